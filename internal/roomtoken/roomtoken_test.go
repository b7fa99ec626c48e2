package roomtoken

import (
	"strings"
	"testing"
	"time"

	"jobhall/internal/apperr"
)

func TestIssueVerify(t *testing.T) {
	is, err := NewIssuer([]byte("0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	is.now = func() time.Time { return now }
	g := Grant{Room: "interview-1", Identity: "seeker-7", Name: "王芳", Role: RoleSeeker, Expires: now.Add(time.Hour), Lobby: true, Limit: 15 * time.Minute}
	tok, err := is.Issue(g)
	if err != nil {
		t.Fatal(err)
	}
	got, err := is.Verify(tok, "interview-1")
	if err != nil || got.Room != g.Room || got.Identity != g.Identity || got.Name != g.Name || got.Role != g.Role || !got.Expires.Equal(g.Expires) || !got.Lobby || got.Limit != g.Limit {
		t.Fatalf("verify: %+v %v", got, err)
	}
	if _, err := is.Verify(tok, "interview-2"); apperr.CodeOf(err) != apperr.Forbidden {
		t.Fatalf("other room: %v", err)
	}
	now = now.Add(2 * time.Hour)
	if _, err := is.Verify(tok, ""); apperr.CodeOf(err) != apperr.Unauthorized || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired: %v", err)
	}
	other, _ := NewIssuer([]byte("fedcba9876543210"))
	other.now = is.now
	forged, _ := other.Issue(Grant{Room: "interview-1", Identity: "seeker-7", Role: RoleSeeker, Expires: now.Add(time.Hour)})
	for _, bad := range []string{"", "garbage", forged, strings.Repeat("a", 5000)} {
		if _, err := is.Verify(bad, ""); apperr.CodeOf(err) != apperr.Unauthorized {
			t.Errorf("token %.20q accepted or wrong code: %v", bad, err)
		}
	}
	if _, err := is.Issue(Grant{Room: "r", Identity: "x", Role: "king", Expires: now}); err == nil {
		t.Error("unknown role issued")
	}
	if _, err := NewIssuer([]byte("short")); err == nil {
		t.Error("short secret accepted")
	}
}

func TestPlacementIsNotARoomToken(t *testing.T) {
	is, err := NewIssuer([]byte("0123456789abcdef0123"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := is.IssuePlacement("interview-1", "node-b", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	room, node, err := is.VerifyPlacement(tok)
	if err != nil || room != "interview-1" || node != "node-b" {
		t.Fatalf("placement %q %q %v", room, node, err)
	}
	if _, err := is.Verify(tok, ""); err == nil {
		t.Fatal("a placement note passed as a room token")
	}
	rt, _ := is.Issue(Grant{Room: "interview-1", Identity: "s-1", Role: RoleSeeker, Expires: time.Now().Add(time.Minute)})
	if _, _, err := is.VerifyPlacement(rt); err == nil {
		t.Fatal("a room token passed as a placement note")
	}
}
