package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// InvitePoolMember records that invitedBy offers userID the role on the pool until
// expires, replacing any earlier offer to the same user. The user is no member until
// AcceptPoolInvitation.
func (q queries) InvitePoolMember(ctx context.Context, poolID, userID, invitedBy int64, role Role, expires time.Time) error {
	if !role.Valid() {
		return fmt.Errorf("invite pool member: %w: role %q", ErrInvalid, role)
	}
	if _, err := q.exec(ctx, `INSERT INTO pool_invitations (pool_id, user_id, role, invited_by, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (pool_id, user_id) DO UPDATE SET role = excluded.role, invited_by = excluded.invited_by,
			created_at = excluded.created_at, expires_at = excluded.expires_at`,
		poolID, userID, role, invitedBy, q.clock(), ts(expires)); err != nil {
		return fmt.Errorf("invite pool member: %w", err)
	}
	return nil
}

// AcceptPoolInvitation makes userID a member of the pool with the role they were
// invited to, and uses the invitation up. It holds only while it is unexpired and its
// inviter is still an owner of the pool: an owner removed or demoted since cannot
// bring anyone in. No such invitation is ErrNotFound; one for another role than role
// is ErrConflict and stays.
func (q queries) AcceptPoolInvitation(ctx context.Context, poolID, userID int64, role Role) (invited Role, err error) {
	err = q.inTx(ctx, func(q queries) error {
		var roles []Role
		if err := q.sel(ctx, &roles, `SELECT i.role FROM pool_invitations i
			JOIN pool_members m ON m.pool_id = i.pool_id AND m.user_id = i.invited_by AND m.role = 'owner'
			JOIN users u ON u.id = i.invited_by AND u.disabled_at IS NULL
			WHERE i.pool_id = ? AND i.user_id = ? AND i.expires_at > ?`, poolID, userID, q.clock()); err != nil {
			return err
		}
		if len(roles) == 0 {
			return ErrNotFound
		}
		invited = roles[0]
		if invited != role {
			return ErrConflict
		}
		if _, err := q.exec(ctx, `DELETE FROM pool_invitations WHERE pool_id = ? AND user_id = ?`, poolID, userID); err != nil {
			return err
		}
		// A member already is left as they are: roles change through SetPoolMember.
		_, err := q.exec(ctx, `INSERT INTO pool_members (pool_id, user_id, role, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (pool_id, user_id) DO NOTHING`, poolID, userID, role, q.clock())
		return err
	})
	if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrConflict) {
		return "", fmt.Errorf("accept pool invitation: %w", err)
	}
	return invited, err
}
