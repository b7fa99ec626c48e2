package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gorilla/websocket"
)

// dialJoin connects to base's signalling, says hello and joins, following
// redirects to the node the room lives on (several nodes) as the room
// page does. It returns the WebSocket and the first frame after welcome
// that is not a redirect (joined, lobby or error), for the caller to handle.
func dialJoin(ctx context.Context, d *websocket.Dialer, base, room, tok string) (*websocket.Conn, []byte, error) {
	url := wsURL(base)
	for range 4 {
		ws, _, err := d.DialContext(ctx, url, nil)
		if err != nil {
			return nil, nil, err
		}
		_ = ws.WriteJSON(map[string]any{"type": "hello", "version": 1})
		_ = ws.WriteJSON(map[string]any{"type": "join", "room": room, "token": tok})
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				ws.Close()
				return nil, nil, err
			}
			var f struct{ Type, URL string }
			if json.Unmarshal(b, &f) != nil || f.Type == "welcome" {
				continue
			}
			if f.Type != "redirect" {
				return ws, b, nil
			}
			if f.URL == "" {
				ws.Close()
				return nil, nil, errors.New("redirect without a url")
			}
			ws.Close()
			url = f.URL
			break
		}
	}
	return nil, nil, fmt.Errorf("join %s: too many redirects", room)
}
