package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/poolhost/poolhost/host"
)

// Role is a pool member's role. Each role includes the rights of those below it.
type Role string

const (
	RoleViewer Role = "viewer" // reads readings
	RoleEditor Role = "editor" // links and unlinks devices
	RoleOwner  Role = "owner"  // manages members
)

func (r Role) rank() int {
	switch r {
	case RoleOwner:
		return 3
	case RoleEditor:
		return 2
	case RoleViewer:
		return 1
	}
	return 0
}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r.rank() > 0 }

// AtLeast reports whether r grants everything min grants.
func (r Role) AtLeast(min Role) bool { return r.Valid() && r.rank() >= min.rank() }

// Pool is a swimming pool and its configuration. The configuration is policy, set by
// members: never a measured value (those are readings and test sessions).
type Pool struct {
	ID        int64     `db:"id"`
	Name      string    `db:"name"`
	CreatedAt time.Time `db:"created_at"`
	PoolConfig
}

// PoolConfig is what PATCH /v1/pools/{id} sets besides the name. Empty strings and a nil
// volume mean "not said". Targets is JSON {metric: {"min": x, "max": y}} in canonical
// units; host/pools validates it.
type PoolConfig struct {
	VolumeLiters *float64 `db:"volume_liters"`
	Kind         string   `db:"kind"`
	Location     string   `db:"location"`
	Sanitizer    string   `db:"sanitizer"`
	Targets      RawJSON  `db:"targets"`
	// TimeZone is the pool's IANA zone, whose midnights bound its daily summaries;
	// "" in an update keeps the stored one.
	TimeZone string `db:"time_zone"`
}

const poolColumns = `id, name, created_at, volume_liters, kind, location, sanitizer, targets, time_zone`

// PoolWithRole is a pool as one member sees it.
type PoolWithRole struct {
	Pool
	Role Role `db:"role"`
}

// PoolMember is a user's role on a pool.
type PoolMember struct {
	PoolID    int64     `db:"pool_id"`
	UserID    int64     `db:"user_id"`
	Email     string    `db:"email"`
	Role      Role      `db:"role"`
	CreatedAt time.Time `db:"created_at"`
}

// CreatePool creates a pool with ownerID as its first owner, atomically, whatever the
// pools ownerID owns already (CreateOwnedPool caps them).
func (q queries) CreatePool(ctx context.Context, name string, ownerID int64) (Pool, error) {
	return q.CreateOwnedPool(ctx, name, ownerID, 0)
}

// CreateOwnedPool creates a pool with ownerID as its creator and first owner,
// atomically; when ownerID has created maxCreated pools already (maxCreated 0: no limit)
// it is ErrPoolLimit and nothing is created.
func (q queries) CreateOwnedPool(ctx context.Context, name string, ownerID int64, maxCreated int) (Pool, error) {
	var p Pool
	err := q.inTx(ctx, func(q queries) error {
		if err := q.underPoolLimit(ctx, ownerID, maxCreated); err != nil {
			return err
		}
		now := q.clock()
		if err := q.get(ctx, &p, `INSERT INTO pools (name, created_at, created_by) VALUES (?, ?, ?)
			RETURNING `+poolColumns, name, now, ownerID); err != nil {
			return err
		}
		_, err := q.exec(ctx, `INSERT INTO pool_members (pool_id, user_id, role, created_at) VALUES (?, ?, ?, ?)`,
			p.ID, ownerID, RoleOwner, now)
		return err
	})
	if err != nil {
		return Pool{}, fmt.Errorf("create pool: %w", err)
	}
	return p, nil
}

// underPoolLimit is ErrPoolLimit when the user has created max pools already (max 0: no
// limit). It counts the pools the user created, not those they own: any owner may make
// any user an owner, unasked, and a last owner cannot leave, so owned pools would let
// one user hand pools to another to create without end, and fill the other's places
// with pools they never asked for.
func (q queries) underPoolLimit(ctx context.Context, userID int64, max int) error {
	n, full, err := q.taken(ctx, "users", userID, max,
		`SELECT COUNT(*) FROM pools WHERE created_by = ?`, userID)
	if err != nil || !full {
		return err
	}
	return host.Wrap(host.ECONFLICT, ErrPoolLimit,
		"you have created %d pools, the most one user may (the operator's ingest { max_pools_per_user }); the operator may raise it", n).WithType(ErrPoolLimit.Type)
}

// GetPool returns a pool by id, whoever asks; use PoolRole to authorize.
func (q queries) GetPool(ctx context.Context, id int64) (Pool, error) {
	var p Pool
	if err := q.get(ctx, &p, `SELECT `+poolColumns+` FROM pools WHERE id = ?`, id); err != nil {
		return Pool{}, fmt.Errorf("get pool: %w", err)
	}
	return p, nil
}

// UpdatePool replaces a pool's name and configuration. A new time zone recomputes the
// pool's rollups in the same transaction (they are kept in its local hours), holding the
// rollup watermark so no rollup run interleaves.
func (q queries) UpdatePool(ctx context.Context, id int64, name string, c PoolConfig) (Pool, error) {
	if len(c.Targets) == 0 {
		c.Targets = RawJSON("{}")
	}
	if !json.Valid(c.Targets) {
		return Pool{}, fmt.Errorf("update pool: %w: targets are not JSON", ErrInvalid)
	}
	if c.TimeZone != "" {
		if _, err := LoadZone(c.TimeZone); err != nil {
			return Pool{}, fmt.Errorf("update pool: %w", err)
		}
	}
	var p Pool
	err := q.inTx(ctx, func(q queries) error {
		var old Pool
		if err := q.get(ctx, &old, `SELECT `+poolColumns+` FROM pools WHERE id = ?`, id); err != nil {
			return err
		}
		if c.TimeZone == "" {
			c.TimeZone = old.TimeZone
		}
		var watermark int64
		if c.TimeZone != old.TimeZone {
			if err := q.get(ctx, &watermark, `SELECT watermark FROM rollup_state WHERE name = ?`+q.d.forUpdateSQL(), rollupState); err != nil {
				return err
			}
		}
		if err := q.get(ctx, &p, `UPDATE pools SET name = ?, volume_liters = ?, kind = ?, location = ?, sanitizer = ?, targets = ?, time_zone = ?
			WHERE id = ? RETURNING `+poolColumns, name, c.VolumeLiters, c.Kind, c.Location, c.Sanitizer, string(c.Targets), c.TimeZone, id); err != nil {
			return err
		}
		if c.TimeZone != old.TimeZone {
			return q.rebuildPoolRollups(ctx, id, watermark)
		}
		return nil
	})
	if err != nil {
		return Pool{}, fmt.Errorf("update pool: %w", err)
	}
	return p, nil
}

// ListPoolsForUser returns the pools userID is a member of, with the role, by id: at
// most limit of them with ids above afterID.
func (q queries) ListPoolsForUser(ctx context.Context, userID, afterID int64, limit int) ([]PoolWithRole, error) {
	var ps []PoolWithRole
	err := q.sel(ctx, &ps, `SELECT p.id, p.name, p.created_at, p.volume_liters, p.kind, p.location, p.sanitizer, p.targets, p.time_zone, m.role FROM pools p
		JOIN pool_members m ON m.pool_id = p.id WHERE m.user_id = ? AND p.id > ? ORDER BY p.id LIMIT ?`, userID, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("list pools: %w", err)
	}
	return ps, nil
}

// PoolRole is userID's role on poolID. A non-member — and a pool that does not
// exist — is ErrNotFound, so callers answer 404 and existence does not leak.
func (q queries) PoolRole(ctx context.Context, poolID, userID int64) (Role, error) {
	var r Role
	if err := q.get(ctx, &r, `SELECT role FROM pool_members WHERE pool_id = ? AND user_id = ?`, poolID, userID); err != nil {
		return "", fmt.Errorf("pool role: %w", err)
	}
	return r, nil
}

// ListPoolMembers returns a pool's members.
func (q queries) ListPoolMembers(ctx context.Context, poolID int64) ([]PoolMember, error) {
	var ms []PoolMember
	err := q.sel(ctx, &ms, `SELECT m.pool_id, m.user_id, u.email, m.role, m.created_at
		FROM pool_members m JOIN users u ON u.id = m.user_id WHERE m.pool_id = ? ORDER BY m.user_id`, poolID)
	if err != nil {
		return nil, fmt.Errorf("list pool members: %w", err)
	}
	return ms, nil
}

// MaxMembersPerPool bounds a pool's members. Its member list is part of every read of
// the pool (GET /v1/pools/{poolId}, the console), and any owner may add any user without
// asking them: a household, its pool service and a few guests are a dozen at most.
const MaxMembersPerPool = 100

// SetPoolMember adds userID to the pool or changes its role. Demoting the last owner is
// ErrLastOwner; adding a member to a pool that has MaxMembersPerPool is ErrMemberLimit.
// It returns the previous role ("" when newly added).
func (q queries) SetPoolMember(ctx context.Context, poolID, userID int64, role Role) (Role, error) {
	if !role.Valid() {
		return "", fmt.Errorf("set pool member: %w: role %q", ErrInvalid, role)
	}
	var prev Role
	err := q.inTx(ctx, func(q queries) error {
		// The pool's member changes take turns (serializeOnSQL), so two additions at once
		// cannot both take the last place, nor two demotions (or a demotion and a
		// RemovePoolMember) both leave the pool without an owner.
		var id int64
		if err := q.get(ctx, &id, `SELECT id FROM pools WHERE id = ?`+q.d.serializeOnSQL(), poolID); err != nil {
			return err
		}
		var roles []Role
		if err := q.sel(ctx, &roles, `SELECT role FROM pool_members WHERE pool_id = ? AND user_id = ?`, poolID, userID); err != nil {
			return err
		}
		if len(roles) > 0 {
			prev = roles[0]
		} else {
			var n int
			if err := q.get(ctx, &n, `SELECT COUNT(*) FROM pool_members WHERE pool_id = ?`, poolID); err != nil {
				return err
			}
			if n >= MaxMembersPerPool {
				return ErrMemberLimit
			}
		}
		_, err := q.exec(ctx, `INSERT INTO pool_members (pool_id, user_id, role, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (pool_id, user_id) DO UPDATE SET role = excluded.role`, poolID, userID, role, q.clock())
		if err != nil {
			return err
		}
		return q.checkOwners(ctx, poolID)
	})
	if err != nil {
		return "", fmt.Errorf("set pool member: %w", err)
	}
	return prev, nil
}

// RemovePoolMember removes userID from the pool and returns the role it had. Not a
// member is ErrNotFound; removing the last owner is ErrLastOwner.
func (q queries) RemovePoolMember(ctx context.Context, poolID, userID int64) (Role, error) {
	var prev Role
	err := q.inTx(ctx, func(q queries) error {
		// The pool's member changes take turns, as SetPoolMember's do: without, two owners
		// leaving at once each counted the other still there (on PostgreSQL neither sees
		// the other's uncommitted delete) and the pool was left with none.
		var id int64
		if err := q.get(ctx, &id, `SELECT id FROM pools WHERE id = ?`+q.d.serializeOnSQL(), poolID); err != nil {
			return err
		}
		if err := q.get(ctx, &prev, `DELETE FROM pool_members WHERE pool_id = ? AND user_id = ? RETURNING role`, poolID, userID); err != nil {
			return err
		}
		return q.checkOwners(ctx, poolID)
	})
	if err != nil {
		return "", fmt.Errorf("remove pool member: %w", err)
	}
	return prev, nil
}

func (q queries) checkOwners(ctx context.Context, poolID int64) error {
	var n int
	if err := q.get(ctx, &n, `SELECT COUNT(*) FROM pool_members WHERE pool_id = ? AND role = 'owner'`, poolID); err != nil {
		return err
	}
	if n == 0 {
		return ErrLastOwner
	}
	return nil
}

// Equipment is a piece of pool equipment or a pool policy, with free-form JSON config.
type Equipment struct {
	ID        int64     `db:"id"`
	PoolID    int64     `db:"pool_id"`
	Kind      string    `db:"kind"`
	Name      string    `db:"name"`
	Config    RawJSON   `db:"config"`
	CreatedAt time.Time `db:"created_at"`
	UpdatedAt time.Time `db:"updated_at"`
}

const equipmentColumns = `id, pool_id, kind, name, config, created_at, updated_at`

// CreateEquipment adds equipment to a pool. A nil config is {}. A pool that has
// MaxEquipmentPerPool already is ErrEquipmentLimit.
func (q queries) CreateEquipment(ctx context.Context, poolID int64, kind, name string, config RawJSON) (Equipment, error) {
	if len(config) == 0 {
		config = RawJSON("{}")
	}
	if !json.Valid(config) {
		return Equipment{}, fmt.Errorf("create equipment: %w: config is not JSON", ErrInvalid)
	}
	now := q.clock()
	var e Equipment
	err := q.inTx(ctx, func(q queries) error {
		// The pool's creates take turns (serializeOnSQL), so two at once cannot both
		// take the last place.
		var id int64
		if err := q.get(ctx, &id, `SELECT id FROM pools WHERE id = ?`+q.d.serializeOnSQL(), poolID); err != nil {
			return err
		}
		var n int
		if err := q.get(ctx, &n, `SELECT COUNT(*) FROM equipment WHERE pool_id = ?`, poolID); err != nil {
			return err
		}
		if n >= MaxEquipmentPerPool {
			return ErrEquipmentLimit
		}
		return q.get(ctx, &e, `INSERT INTO equipment (pool_id, kind, name, config, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING `+equipmentColumns, poolID, kind, name, string(config), now, now)
	})
	if err != nil {
		return Equipment{}, fmt.Errorf("create equipment: %w", err)
	}
	return e, nil
}

// MaxEquipmentPerPool bounds a pool's equipment, whose list is one answer: a pool's
// pumps, filters, heaters and relays are a few dozen at most.
const MaxEquipmentPerPool = 200

// ListEquipment returns a pool's equipment.
func (q queries) ListEquipment(ctx context.Context, poolID int64) ([]Equipment, error) {
	var es []Equipment
	if err := q.sel(ctx, &es, `SELECT `+equipmentColumns+` FROM equipment WHERE pool_id = ? ORDER BY id`, poolID); err != nil {
		return nil, fmt.Errorf("list equipment: %w", err)
	}
	return es, nil
}

// UpdateEquipmentConfig replaces one piece of equipment's config.
func (q queries) UpdateEquipmentConfig(ctx context.Context, id int64, config RawJSON) error {
	if !json.Valid(config) {
		return fmt.Errorf("update equipment: %w: config is not JSON", ErrInvalid)
	}
	if err := q.execOne(ctx, `UPDATE equipment SET config = ?, updated_at = ? WHERE id = ?`, string(config), q.clock(), id); err != nil {
		return fmt.Errorf("update equipment: %w", err)
	}
	return nil
}

// GetEquipment returns one of a pool's pieces of equipment; another pool's is ErrNotFound.
func (q queries) GetEquipment(ctx context.Context, poolID, id int64) (Equipment, error) {
	var e Equipment
	if err := q.get(ctx, &e, `SELECT `+equipmentColumns+` FROM equipment WHERE pool_id = ? AND id = ?`, poolID, id); err != nil {
		return Equipment{}, fmt.Errorf("get equipment: %w", err)
	}
	return e, nil
}

// UpdateEquipment replaces the name and config of one of a pool's pieces of equipment.
func (q queries) UpdateEquipment(ctx context.Context, poolID, id int64, name string, config RawJSON) (Equipment, error) {
	if !json.Valid(config) {
		return Equipment{}, fmt.Errorf("update equipment: %w: config is not JSON", ErrInvalid)
	}
	var e Equipment
	if err := q.get(ctx, &e, `UPDATE equipment SET name = ?, config = ?, updated_at = ? WHERE pool_id = ? AND id = ?
		RETURNING `+equipmentColumns, name, string(config), q.clock(), poolID, id); err != nil {
		return Equipment{}, fmt.Errorf("update equipment: %w", err)
	}
	return e, nil
}

// DeleteEquipment removes one of a pool's pieces of equipment.
func (q queries) DeleteEquipment(ctx context.Context, poolID, id int64) error {
	err := q.inTx(ctx, func(q queries) error {
		if _, err := q.lockEquipmentBinding(ctx, poolID, id); err != nil {
			return err
		}
		if err := q.equipmentIdle(ctx, id); err != nil {
			return err
		}
		return q.execOne(ctx, `DELETE FROM equipment WHERE pool_id = ? AND id = ?`, poolID, id)
	})
	if err != nil {
		return fmt.Errorf("delete equipment: %w", err)
	}
	return nil
}
