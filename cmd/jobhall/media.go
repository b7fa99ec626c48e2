package main

import (
	"github.com/pion/webrtc/v4"

	"jobhall/recorder"
	"jobhall/sfu"
	"jobhall/signaling"
)

// sfuEngine adapts the SFU to signaling.Engine.
type sfuEngine struct{ s *sfu.SFU }

func (e sfuEngine) Join(room string, p signaling.MediaParticipant, ev signaling.MediaEvents) (signaling.MediaSession, error) {
	part, err := e.s.Room(room).Join(sfu.ParticipantInfo{
		ID: p.ID, Name: p.Name, CanPublish: p.CanPublish, CanSubscribe: p.CanSubscribe,
	}, sfuEvents{ev})
	if err != nil {
		return nil, err
	}
	return sfuSession{part}, nil
}

func toSFU(t signaling.Target) sfu.Target {
	if t == signaling.TargetSubscriber {
		return sfu.Subscriber
	}
	return sfu.Publisher
}

func fromSFU(t sfu.Target) signaling.Target {
	if t == sfu.Subscriber {
		return signaling.TargetSubscriber
	}
	return signaling.TargetPublisher
}

type sfuSession struct{ p *sfu.Participant }

func (s sfuSession) Publish(o webrtc.SessionDescription) (webrtc.SessionDescription, error) {
	return s.p.Publish(o)
}
func (s sfuSession) SetSubscriberAnswer(a webrtc.SessionDescription) error {
	return s.p.SetSubscriberAnswer(a)
}
func (s sfuSession) AddICECandidate(t signaling.Target, c webrtc.ICECandidateInit) error {
	return s.p.AddICECandidate(toSFU(t), c)
}
func (s sfuSession) Leave() { s.p.Leave() }

type sfuEvents struct{ ev signaling.MediaEvents }

func (e sfuEvents) SubscriberOffer(o webrtc.SessionDescription) { e.ev.SubscriberOffer(o) }

// ActiveSpeakers passes the SFU's speaker list on (sfu.SpeakerEvents).
func (e sfuEvents) ActiveSpeakers(ids []string) {
	if sp, ok := e.ev.(signaling.SpeakerEvents); ok {
		sp.ActiveSpeakers(ids)
	}
}

// PublishedLayers passes dynacast's layer choice on (sfu.LayerEvents).
func (e sfuEvents) PublishedLayers(track string, active []string) {
	if le, ok := e.ev.(signaling.LayerEvents); ok {
		le.PublishedLayers(track, active)
	}
}

func (e sfuEvents) ICECandidate(t sfu.Target, c webrtc.ICECandidateInit) {
	e.ev.ICECandidate(fromSFU(t), c)
}
func (e sfuEvents) ConnectionState(t sfu.Target, s webrtc.PeerConnectionState) {
	e.ev.ConnectionState(fromSFU(t), s)
}

// recordingSubscriber feeds a room's tracks to a recorder session.
type recordingSubscriber struct{ s *recorder.Session }

func (r recordingSubscriber) AddTrack(t sfu.TrackInfo, requestKeyframe func()) sfu.LocalTrackSink {
	w := r.s.AddTrack(recorder.Track{
		ParticipantID: t.ParticipantID, TrackID: t.TrackID, Kind: t.Kind,
		MimeType: t.MimeType, ClockRate: t.ClockRate, Channels: t.Channels,
	}, requestKeyframe)
	if w == nil {
		return nil
	}
	return w
}
