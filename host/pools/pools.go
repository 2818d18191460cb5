// Package pools holds the pool rules shared by the HTTP API and the CLI: who may see a
// pool, read its readings and manage its members. Someone who is not a member gets
// ENOTFOUND for a pool that exists, exactly as for one that does not, so pool ids leak
// nothing.
package pools

import (
	"cmp"
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/audit"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk/metric"
)

// Role is a member's role; the store's ordering (owner ⊃ editor ⊃ viewer) applies.
type Role = store.Role

const (
	Viewer = store.RoleViewer
	Editor = store.RoleEditor
	Owner  = store.RoleOwner
)

// Store is what the service needs of host/store.
type Store interface {
	CreateOwnedPool(ctx context.Context, name string, ownerID int64, maxOwned int) (store.Pool, error)
	GetPool(ctx context.Context, id int64) (store.Pool, error)
	ListPoolsForUser(ctx context.Context, userID, afterID int64, limit int) ([]store.PoolWithRole, error)
	PoolRole(ctx context.Context, poolID, userID int64) (store.Role, error)
	ListPoolMembers(ctx context.Context, poolID int64) ([]store.PoolMember, error)
	SetPoolMember(ctx context.Context, poolID, userID int64, role store.Role) (store.Role, error)
	RemovePoolMember(ctx context.Context, poolID, userID int64) (store.Role, error)
	GetUser(ctx context.Context, id int64) (store.User, error)
	ListReadings(ctx context.Context, q store.ReadingQuery) ([]store.Reading, *store.ReadingCursor, error)
	UpdatePool(ctx context.Context, id int64, name string, c store.PoolConfig) (store.Pool, error)
	InsertMemberTestSession(ctx context.Context, s store.TestSession, maxPerPool int) (store.TestSession, error)
	ListTestSessions(ctx context.Context, poolID int64, before *store.TestSessionCursor, limit int) ([]store.TestSession, *store.TestSessionCursor, error)
	GetTestSession(ctx context.Context, poolID, id int64) (store.TestSession, error)
	DeleteTestSession(ctx context.Context, poolID, id int64) error
	LatestMeasurements(ctx context.Context, poolID int64, metrics []string) ([]store.Latest, error)
	SummarizeMeasurements(ctx context.Context, q store.SummaryQuery) ([]store.Bucket, error)
	CreateEquipment(ctx context.Context, poolID int64, kind, name string, config store.RawJSON) (store.Equipment, error)
	ListEquipment(ctx context.Context, poolID int64) ([]store.Equipment, error)
	GetEquipment(ctx context.Context, poolID, id int64) (store.Equipment, error)
	UpdateEquipment(ctx context.Context, poolID, id int64, name string, config store.RawJSON) (store.Equipment, error)
	DeleteEquipment(ctx context.Context, poolID, id int64) error
	GetDevice(ctx context.Context, id int64) (store.Device, error)
	DeletePool(ctx context.Context, poolID int64) (store.PoolDeletion, error)
}

// Service applies the pool rules.
type Service struct {
	st    Store
	audit *audit.Recorder
	now   func() time.Time
	cfg   func() *config.Config // nil: the defaults
}

// New returns a Service.
func New(st Store, rec *audit.Recorder) *Service { return &Service{st: st, audit: rec, now: time.Now} }

// SetConfig has the service read the operator's limits (ingest { max_pools_per_user,
// max_test_sessions_per_pool }) from cfg at each use, so a reload applies to the next
// create. Without it the defaults apply.
func (s *Service) SetConfig(cfg func() *config.Config) { s.cfg = cfg }

// maxPoolsPerUser is the operator's ingest { max_pools_per_user }, or its default.
func (s *Service) maxPoolsPerUser() int {
	if s.cfg != nil {
		if c := s.cfg(); c != nil && c.Ingest.MaxPoolsPerUser > 0 {
			return c.Ingest.MaxPoolsPerUser
		}
	}
	return config.DefaultIngest.MaxPoolsPerUser
}

// maxTestSessionsPerPool is the operator's ingest { max_test_sessions_per_pool }, or
// its default.
func (s *Service) maxTestSessionsPerPool() int {
	if s.cfg != nil {
		if c := s.cfg(); c != nil && c.Ingest.MaxTestSessionsPerPool > 0 {
			return c.Ingest.MaxTestSessionsPerPool
		}
	}
	return config.DefaultIngest.MaxTestSessionsPerPool
}

// SetClock replaces time.Now: ages, staleness and test sessions' time window (tests).
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// Pool is a pool as one member sees it.
type Pool struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Role      Role      `json:"role"` // the caller's role
	CreatedAt time.Time `json:"createdAt"`
	Config
	Members []Member `json:"members,omitempty"`
}

// Member is one pool membership.
type Member struct {
	PoolID int64 `json:"poolId"`
	UserID int64 `json:"userId"`
	// Email is shown on the caller's own membership only (emailFor): an owner adds
	// members by user id, and any user can own a pool, so a member's email shown to the
	// pool would tell anyone who guesses ids every user's email.
	Email string `json:"email,omitempty"`
	Role  Role   `json:"role"`
}

// MaxNameLength bounds pool names.
const MaxNameLength = 200

func requireUser(a auth.Actor) error {
	if !a.IsUser() {
		return host.Errorf(host.EUNAUTHORIZED, "a user is required")
	}
	return nil
}

// Create makes a pool created and owned by the actor: one more than ingest
// { max_pools_per_user } pools created (store.ErrPoolLimit) is refused.
func (s *Service) Create(ctx context.Context, a auth.Actor, name string) (Pool, error) {
	if err := requireUser(a); err != nil {
		return Pool{}, err
	}
	name = strings.TrimSpace(name)
	if name == "" || len(name) > MaxNameLength {
		return Pool{}, host.Errorf(host.EINVALID, "name must be 1 to %d characters", MaxNameLength)
	}
	if err := host.CheckText("name", name, false); err != nil {
		return Pool{}, err
	}
	p, err := s.st.CreateOwnedPool(ctx, name, a.UserID, s.maxPoolsPerUser())
	if err != nil {
		return Pool{}, err
	}
	return Pool{ID: p.ID, Name: p.Name, Role: Owner, CreatedAt: p.CreatedAt, Config: configOf(p.PoolConfig)}, nil
}

// PoolPage is one page of the actor's pools; Next, when set, is where the next begins.
type PoolPage struct {
	Pools []Pool
	Next  *PoolPos
}

// PoolPos is a position in the actor's pools: the last pool id of a page.
type PoolPos struct {
	AfterID int64 `json:"afterId"`
}

// List returns a page of the actor's pools, by id: limit of them (0: DefaultLimit, at
// most MaxLimit) after pos (nil: from the first). A user may be a member of any number
// of pools (anyone's owner may add them), so the answer is paged like every list that
// can grow.
func (s *Service) List(ctx context.Context, a auth.Actor, pos *PoolPos, limit int) (PoolPage, error) {
	if err := requireUser(a); err != nil {
		return PoolPage{}, err
	}
	limit = min(cmp.Or(limit, DefaultLimit), MaxLimit)
	after := int64(0)
	if pos != nil {
		after = pos.AfterID
	}
	// One more than the page: whether there is a next one, without a second query.
	ps, err := s.st.ListPoolsForUser(ctx, a.UserID, after, limit+1)
	if err != nil {
		return PoolPage{}, err
	}
	var page PoolPage
	if len(ps) > limit {
		ps = ps[:limit]
		page.Next = &PoolPos{AfterID: ps[limit-1].ID}
	}
	page.Pools = make([]Pool, 0, len(ps))
	for _, p := range ps {
		page.Pools = append(page.Pools, Pool{ID: p.ID, Name: p.Name, Role: p.Role, CreatedAt: p.CreatedAt, Config: configOf(p.PoolConfig)})
	}
	return page, nil
}

// RoleOf returns the actor's role on the pool, ENOTFOUND when the actor is no member
// (or the pool does not exist: the two are indistinguishable on purpose).
func (s *Service) RoleOf(ctx context.Context, a auth.Actor, poolID int64) (Role, error) {
	if err := requireUser(a); err != nil {
		return "", err
	}
	r, err := s.st.PoolRole(ctx, poolID, a.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return "", host.Wrap(host.ENOTFOUND, err, "no such pool")
	}
	return r, err
}

// Require returns the actor's role when it is at least min. A member below min gets
// EFORBIDDEN: the pool's existence is no secret to its own members.
func (s *Service) Require(ctx context.Context, a auth.Actor, poolID int64, min Role) (Role, error) {
	r, err := s.RoleOf(ctx, a, poolID)
	if err != nil {
		return "", err
	}
	if !r.AtLeast(min) {
		return r, host.Errorf(host.EFORBIDDEN, "this needs the %s role on the pool; you are %s", min, r)
	}
	return r, nil
}

// Get returns one pool with its members.
func (s *Service) Get(ctx context.Context, a auth.Actor, poolID int64) (Pool, error) {
	role, err := s.RoleOf(ctx, a, poolID)
	if err != nil {
		return Pool{}, err
	}
	p, err := s.st.GetPool(ctx, poolID)
	if err != nil {
		return Pool{}, err
	}
	ms, err := s.st.ListPoolMembers(ctx, poolID)
	if err != nil {
		return Pool{}, err
	}
	out := Pool{ID: p.ID, Name: p.Name, Role: role, CreatedAt: p.CreatedAt, Config: configOf(p.PoolConfig), Members: make([]Member, 0, len(ms))}
	for _, m := range ms {
		out.Members = append(out.Members, Member{PoolID: m.PoolID, UserID: m.UserID, Email: emailFor(a, m.UserID, m.Email), Role: m.Role})
	}
	return out, nil
}

// SetMember adds a user to the pool or changes their role. Owners only.
func (s *Service) SetMember(ctx context.Context, a auth.Actor, poolID, userID int64, role Role) (Member, error) {
	if _, err := s.Require(ctx, a, poolID, Owner); err != nil {
		return Member{}, err
	}
	if !role.Valid() {
		return Member{}, host.Errorf(host.EINVALID, "role must be owner, editor or viewer")
	}
	u, err := s.st.GetUser(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return Member{}, host.Wrap(host.ENOTFOUND, err, "no such user")
	} else if err != nil {
		return Member{}, err
	}
	prev, err := s.st.SetPoolMember(ctx, poolID, userID, role)
	if err != nil {
		return Member{}, err
	}
	if prev != role {
		s.audit.Record(ctx, audit.Entry{
			Action: audit.MemberChanged, Actor: a, TargetType: "pool", TargetID: strconv.FormatInt(poolID, 10),
			Details: map[string]any{"userId": userID, "from": string(prev), "to": string(role)},
		})
	}
	return Member{PoolID: poolID, UserID: userID, Email: emailFor(a, userID, u.Email), Role: role}, nil
}

// emailFor is a member's email as a shows it: only a's own.
func emailFor(a auth.Actor, userID int64, email string) string {
	if a.UserID == userID {
		return email
	}
	return ""
}

// RemoveMember removes a user from the pool: owners remove anyone, and every member may
// leave (any owner can add any user, unasked, so nobody is kept in a pool against their
// will). The last owner cannot go.
func (s *Service) RemoveMember(ctx context.Context, a auth.Actor, poolID, userID int64) error {
	need := Owner
	if userID == a.UserID {
		need = Viewer
	}
	if _, err := s.Require(ctx, a, poolID, need); err != nil {
		return err
	}
	prev, err := s.st.RemovePoolMember(ctx, poolID, userID)
	if errors.Is(err, store.ErrLastOwner) {
		return err
	}
	if errors.Is(err, store.ErrNotFound) {
		return host.Wrap(host.ENOTFOUND, err, "no such member")
	}
	if err != nil {
		return err
	}
	s.audit.Record(ctx, audit.Entry{
		Action: audit.MemberChanged, Actor: a, TargetType: "pool", TargetID: strconv.FormatInt(poolID, 10),
		Details: map[string]any{"userId": userID, "from": string(prev), "to": ""},
	})
	return nil
}

// The audit actions of a pool's commands that its deletion finishes: a queued one is
// canceled; one whose send's lease ran out is unknown, as the dispatcher's rescue would
// record it (commands.ActionCanceled, ActionUnknown: that package needs this one, not
// the other way round).
const (
	CommandCanceled = "command.canceled"
	CommandUnknown  = "command.unknown"
)

// Delete deletes a pool: its owners only. Its members, equipment, device links (the
// devices stay with their accounts, free to be linked to another pool), test sessions,
// readings and their rollups go with it (store.DeletePool); its queued commands are
// canceled, never sent, and every command, sent or not, keeps its history, as the audit
// trail does (pool.deleted, and command.canceled for each canceled one). It no longer
// counts toward its creator's ingest { max_pools_per_user }.
//
// A viewer or editor gets EFORBIDDEN; anyone else ENOTFOUND, as for a pool that does
// not exist, so a second delete of the same pool is a 404 too.
func (s *Service) Delete(ctx context.Context, a auth.Actor, poolID int64) error {
	if _, err := s.Require(ctx, a, poolID, Owner); err != nil {
		return err
	}
	del, err := s.st.DeletePool(ctx, poolID)
	if errors.Is(err, store.ErrNotFound) {
		// Deleted meanwhile (another owner's delete).
		return host.Wrap(host.ENOTFOUND, err, "no such pool")
	}
	if err != nil {
		return err
	}
	target := strconv.FormatInt(poolID, 10)
	// Each command's row, as the dispatcher's transitions record it.
	finished := func(action string, by auth.Actor, c store.Command) {
		s.audit.Record(ctx, audit.Entry{
			Action: action, Actor: by, Provider: c.Provider, TargetType: "command", TargetID: c.PublicID,
			Details: map[string]any{
				"commandId": c.PublicID, "command": c.Command, "poolId": c.PoolID, "equipmentId": c.EquipmentID,
				"deviceId": c.DeviceID, "providerDeviceId": c.ProviderDeviceID, "status": string(c.Status), "reason": c.Reason,
			},
		})
	}
	for _, c := range del.Interrupted {
		finished(CommandUnknown, auth.Actor{System: "command-dispatcher"}, c)
	}
	for _, c := range del.Canceled {
		finished(CommandCanceled, a, c)
	}
	s.audit.Record(ctx, audit.Entry{
		Action: audit.PoolDeleted, Actor: a, TargetType: "pool", TargetID: target,
		Details: map[string]any{
			"readings": del.Readings, "testSessions": del.TestSessions, "unlinkedDevices": del.UnlinkedDevices,
			"canceledCommands": len(del.Canceled),
		},
	})
	return nil
}

// Reading is one stored measurement.
type Reading struct {
	DeviceID   int64     `json:"deviceId"`
	Metric     string    `json:"metric"`
	Value      float64   `json:"value"`
	Unit       string    `json:"unit"`
	RecordedAt time.Time `json:"recordedAt"`
	Quality    string    `json:"quality,omitempty"`
	// Qualifier "above" or "below": Value is the bound of the method's range ("FC > 10").
	Qualifier string `json:"qualifier,omitempty"`
}

// ReadingQuery selects a pool's readings, oldest first.
type ReadingQuery struct {
	PoolID int64
	Metric string    // "" for all metrics
	From   time.Time // inclusive; zero for no bound
	To     time.Time // exclusive; zero for no bound
	Limit  int       // 1..MaxLimit; 0 means DefaultLimit
	After  *ReadingPos
}

// Page limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// ReadingPos is a keyset position: the last row of the previous page. httpapi turns it
// into an opaque cursor.
type ReadingPos struct {
	RecordedAt time.Time `json:"t"`
	ID         int64     `json:"i"`
}

// ReadingsPage is one page of readings; Next is nil on the last page.
type ReadingsPage struct {
	Readings []Reading
	Next     *ReadingPos
}

// Readings returns a page of the pool's readings. Any member may read. Readings stay
// with the pool they were recorded for: unlinking a device or disconnecting its account
// does not take history away.
func (s *Service) Readings(ctx context.Context, a auth.Actor, q ReadingQuery) (ReadingsPage, error) {
	if _, err := s.Require(ctx, a, q.PoolID, Viewer); err != nil {
		return ReadingsPage{}, err
	}
	if q.Limit <= 0 {
		q.Limit = DefaultLimit
	}
	if q.Limit > MaxLimit {
		return ReadingsPage{}, host.Errorf(host.EINVALID, "limit must be at most %d", MaxLimit)
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return ReadingsPage{}, host.Errorf(host.EINVALID, "from must be before to")
	}
	if _, ok := metric.Lookup(q.Metric); q.Metric != "" && !ok {
		return ReadingsPage{}, host.Errorf(host.EINVALID, "metric must be one of the vocabulary's, e.g. ph, temperature")
	}
	sq := store.ReadingQuery{PoolID: q.PoolID, Metric: q.Metric, From: q.From, To: q.To, Limit: q.Limit}
	if q.After != nil {
		sq.After = &store.ReadingCursor{RecordedAt: q.After.RecordedAt, ID: q.After.ID}
	}
	rows, next, err := s.st.ListReadings(ctx, sq)
	if err != nil {
		return ReadingsPage{}, err
	}
	var page ReadingsPage
	if next != nil {
		page.Next = &ReadingPos{RecordedAt: next.RecordedAt, ID: next.ID}
	}
	page.Readings = make([]Reading, 0, len(rows))
	for _, r := range rows {
		page.Readings = append(page.Readings, Reading{
			DeviceID: r.DeviceID, Metric: r.Metric, Value: r.Value, Unit: r.Unit, RecordedAt: r.RecordedAt, Quality: r.Quality, Qualifier: r.Qualifier,
		})
	}
	return page, nil
}
