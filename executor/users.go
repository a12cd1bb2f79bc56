package executor

import (
	"context"
	"errors"
	"fmt"

	"github.com/flowgate/flowgate/catalog"
	"github.com/flowgate/flowgate/parser"
	"github.com/flowgate/flowgate/wire"
)

func checkRole(text, role string, pos int) error {
	if _, ok := roleRank[role]; !ok {
		e := withHint(pgErr(codeInvalidParam, "unknown role %q", role), "Valid roles: admin, manage, readonly.")
		if pos >= 0 {
			e.Position = int32(parser.OffsetToPosition(text, pos))
		}
		return e
	}
	return nil
}

func checkPassword(p string) error {
	if len(p) < 8 {
		return withHint(pgErr(codeInvalidParam, "password must be at least 8 characters"), "Choose a longer password.")
	}
	return nil
}

func (s *Session) createUser(ctx context.Context, st *parser.CreateUser) (wire.Result, error) {
	if err := checkRole(st.Text(), st.Role, st.RolePos); err != nil {
		return nil, err
	}
	if err := checkPassword(st.Password); err != nil {
		return nil, err
	}
	v, err := wire.SCRAMVerifier(st.Password)
	if err != nil {
		return nil, err
	}
	err = s.ex.cat.CreateUser(ctx, catalog.User{Name: st.Name, Role: st.Role, SCRAMVerifier: v})
	if errors.Is(err, catalog.ErrDuplicate) {
		return nil, withPos(pgErr(codeDuplicateObject, "role %q already exists", st.Name), parser.OffsetToPosition(st.Text(), st.NamePos))
	}
	if err != nil {
		return nil, err
	}
	return tagOnly("CREATE USER"), nil
}

func (s *Session) alterUser(ctx context.Context, st *parser.AlterUser) (wire.Result, error) {
	if _, err := s.ex.cat.GetUser(ctx, st.Name); errors.Is(err, catalog.ErrNotFound) {
		return nil, withPos(notFound("role", st.Name), parser.OffsetToPosition(st.Text(), st.NamePos))
	} else if err != nil {
		return nil, err
	}
	if st.Role != nil {
		if err := checkRole(st.Text(), *st.Role, st.RolePos); err != nil {
			return nil, err
		}
	}
	if st.Password != nil {
		if err := checkPassword(*st.Password); err != nil {
			return nil, err
		}
		v, err := wire.SCRAMVerifier(*st.Password)
		if err != nil {
			return nil, err
		}
		if err := s.ex.cat.SetUserVerifier(ctx, st.Name, v); err != nil {
			return nil, err
		}
	}
	if st.Role != nil {
		err := s.ex.cat.SetUserRole(ctx, st.Name, *st.Role)
		if errors.Is(err, catalog.ErrLastAdmin) {
			return nil, withHint(pgErr(codeObjectState, "cannot change the role of %q: it is the last admin", st.Name), "Create another admin first.")
		}
		if err != nil {
			return nil, err
		}
		if st.Name == s.user {
			s.mu.Lock()
			s.role = *st.Role
			s.mu.Unlock()
		}
	}
	return tagOnly("ALTER USER"), nil
}

func (s *Session) dropUser(ctx context.Context, st *parser.DropUser) (wire.Result, error) {
	if st.Name == s.user {
		return nil, pgErr(codeObjectInUse, "current user cannot be dropped")
	}
	err := s.ex.cat.DropUser(ctx, st.Name)
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		if st.IfExists {
			s.notice("NOTICE", codeSuccessfulCompl, fmt.Sprintf("role %q does not exist, skipping", st.Name), "")
			return tagOnly("DROP USER"), nil
		}
		return nil, withPos(notFound("role", st.Name), parser.OffsetToPosition(st.Text(), st.NamePos))
	case errors.Is(err, catalog.ErrLastAdmin):
		return nil, withHint(pgErr(codeObjectState, "cannot drop %q: it is the last admin", st.Name), "Create another admin first.")
	case err != nil:
		return nil, err
	}
	return tagOnly("DROP USER"), nil
}
