package main

// SetVideoPreference passes a viewer's largest tile size to the SFU, which
// picks the simulcast layer (signaling.VideoPreferrer).
func (s sfuSession) SetVideoPreference(publisherID, trackID string, maxWidth, maxHeight int) error {
	return s.p.SetVideoPreference(publisherID, trackID, maxWidth, maxHeight)
}

// RestartICE asks the SFU for an ICE-restart offer on the subscriber
// connection (signaling.ICERestarter).
func (s sfuSession) RestartICE() error { return s.p.RestartICE() }
