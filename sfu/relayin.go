package sfu

import (
	"github.com/pion/webrtc/v4"

	"jobhall/internal/apperr"
)

// RelayInput is the edge end of a cascade: a publish-only participant of
// the edge's room whose PeerConnection answers an origin's Relay. Each
// relayed track is published under its origin publisher's participant ID
// with the origin's track id, stream id and RIDs, so local viewers
// subscribe to it as to a local publisher's: layer choice, NACK answers
// (from this node's cache) and bandwidth estimates stay per viewer.
type RelayInput struct {
	p *Participant
}

// relayInputEvents adapts a RelayInput's participant events: only the
// publish PC's state matters (nothing is ever subscribed).
type relayInputEvents struct {
	onState func(webrtc.PeerConnectionState)
}

func (e relayInputEvents) SubscriberOffer(webrtc.SessionDescription)    {}
func (e relayInputEvents) ICECandidate(Target, webrtc.ICECandidateInit) {}
func (e relayInputEvents) ConnectionState(t Target, st webrtc.PeerConnectionState) {
	if t == Publisher && e.onState != nil {
		e.onState(st)
	}
}

// JoinRelayInput adds the edge end of a cascade to the room under id (which
// must not collide with a real participant's ID). onState, when set, gets
// the relay PeerConnection's states (deduplicated, must not block); Failed
// or Closed mean the caller should close it and reconnect.
func (r *Room) JoinRelayInput(id string, onState func(webrtc.PeerConnectionState)) (*RelayInput, error) {
	if len(id) > maxRelayIDBytes {
		return nil, apperr.New(apperr.Invalid, "invalid relay id")
	}
	info := ParticipantInfo{ID: id, Name: id, CanPublish: true}
	p, err := r.join(info, relayInputEvents{onState: onState}, false, func(p *Participant) {
		p.relayIn = true
		p.relayOwners = map[string]string{}
	})
	if err != nil {
		return nil, err
	}
	return &RelayInput{p: p}, nil
}

// ID returns the relay input's participant ID.
func (in *RelayInput) ID() string { return in.p.info.ID }

// Apply answers one offer of the origin's Relay. tracks say whose track
// each m-section carries (RelayEvents.RelayOffer gives them).
func (in *RelayInput) Apply(offer webrtc.SessionDescription, tracks []RelayTrack) (webrtc.SessionDescription, error) {
	var none webrtc.SessionDescription
	if len(tracks) > maxRelayTracks {
		return none, apperr.New(apperr.TooLarge, "too many relayed tracks: %d (max %d)", len(tracks), maxRelayTracks)
	}
	owners := make(map[string]string, len(tracks))
	for _, t := range tracks {
		if t.Mid == "" || len(t.Mid) > 32 || t.ParticipantID == "" || len(t.ParticipantID) > 128 ||
			len(t.TrackID) > 256 || len(t.StreamID) > 256 {
			return none, apperr.New(apperr.Invalid, "invalid relayed track %q of %q", t.Mid, t.ParticipantID)
		}
		if t.ParticipantID == in.p.info.ID {
			return none, apperr.New(apperr.Invalid, "relayed track claims the relay's own id")
		}
		owners[t.Mid] = t.ParticipantID
	}
	in.p.mu.Lock()
	for mid, owner := range owners {
		in.p.relayOwners[mid] = owner
	}
	in.p.mu.Unlock()
	return in.p.Publish(offer)
}

// Close leaves the room: the relayed tracks end for every local viewer.
func (in *RelayInput) Close() { in.p.Leave() }
