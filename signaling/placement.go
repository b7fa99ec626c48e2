package signaling

import (
	"context"
	"time"

	"jobhall/internal/roomtoken"
)

// Placer decides where a room lives when jobhall runs as several nodes
// (cmd/jobhall adapts the cluster to it). Place is called on the
// connection's owner goroutine after the token is verified and before the
// join; it may block for the placement (bounded by ctx). It returns "" to
// serve the join on this node, or the WebSocket URL of the room's node to
// send the client to. hint is the "placement" query parameter the client
// connected with (a signed note from the node that redirected it).
type Placer interface {
	Place(ctx context.Context, g roomtoken.Grant, hint string) (redirect string, err error)
}

// placeTimeout bounds how long a join waits for a placement.
const placeTimeout = 4 * time.Second

// maxHintBytes bounds the placement query parameter.
const maxHintBytes = 1024

// RoomLive is one active room as other nodes may see it.
type RoomLive struct {
	Room    string
	Members []Participant
	Lobby   []Participant // queue order
}

// Live returns the rooms that have members or waiters (ended rooms kept
// only to refuse joins are left out), for the cluster heartbeat.
func (s *Server) Live() []RoomLive {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]RoomLive, 0, len(s.rooms))
	for _, r := range s.rooms {
		if r.ended || (len(r.members) == 0 && len(r.lobby) == 0) {
			continue
		}
		rl := RoomLive{Room: r.id, Members: make([]Participant, 0, len(r.members)), Lobby: lobbyViewLocked(r)}
		for _, m := range r.members {
			rl.Members = append(rl.Members, m.view())
		}
		out = append(out, rl)
	}
	return out
}

// RoomActive reports whether the room has members or waiters here.
func (s *Server) RoomActive(room string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[room]
	return r != nil && !r.ended && (len(r.members) > 0 || len(r.lobby) > 0)
}

// EndedRooms returns the rooms ended here that still refuse joins (for
// an hour): the cluster keeps them placed here so that no other node
// starts them again.
func (s *Server) EndedRooms() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.rooms {
		if r.ended {
			out = append(out, r.id)
		}
	}
	return out
}
