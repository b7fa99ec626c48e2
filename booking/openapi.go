package booking

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// The OpenAPI document is built from the route table, so a route cannot
// exist undocumented; request schemas are written out below and a test
// checks that every route's body names one.

type obj = map[string]any

func str() obj               { return obj{"type": "string"} }
func strf(format string) obj { return obj{"type": "string", "format": format} }
func integer() obj           { return obj{"type": "integer", "format": "int64"} }
func boolean() obj           { return obj{"type": "boolean"} }
func arr(items obj) obj      { return obj{"type": "array", "items": items} }
func object(props obj, req ...string) obj {
	o := obj{"type": "object", "additionalProperties": false, "properties": props}
	if len(req) > 0 {
		o["required"] = req
	}
	return o
}

var requestSchemas = obj{
	"DemoSession": object(obj{"role": obj{"type": "string", "enum": []string{RoleSeeker, RoleEmployer}}, "id": integer()}, "role", "id"),
	"OTPRequest":  object(obj{"phone": obj{"type": "string", "pattern": "^1[0-9]{10}$"}}, "phone"),
	"OTPVerify":   object(obj{"phone": str(), "code": obj{"type": "string", "pattern": "^[0-9]{6}$"}}, "phone", "code"),
	"Login":       object(obj{"login": str(), "password": strf("password")}, "login", "password"),
	"NewAccount": object(obj{"login": str(), "name": str(), "role": obj{"type": "string", "enum": []string{RoleEmployer, RoleTrainer, RoleOfficer, RoleAdmin}},
		"password": strf("password"), "employer_id": integer()}, "login", "name", "role", "password"),
	"NewEmployer": object(obj{"name": str(), "industry": str(), "county": str()}, "name"),
	"NewWebhook":  object(obj{"url": strf("uri"), "events": arr(obj{"type": "string", "enum": Events}), "secret": str()}, "url", "events"),
	"NewFair": object(obj{"name": str(), "venue": str(), "day": strf("date"), "time_zone": str(), "mode": obj{"type": "string", "enum": []string{"onsite", "online", "both"}},
		"booking_opens": strf("date-time"), "booking_closes": strf("date-time"), "registration_opens": strf("date-time"), "registration_closes": strf("date-time")},
		"name", "day", "booking_opens", "booking_closes"),
	"NewBooth": object(obj{"employer_id": integer(), "hall_position": str(), "lanes": integer(), "daily_cap": integer()}, "employer_id"),
	"Availability": object(obj{
		"rules": arr(object(obj{"lane": integer(), "weekday": integer(), "starts": obj{"type": "string", "example": "09:00"},
			"ends": obj{"type": "string", "example": "12:00"}, "slot_minutes": integer()}, "starts", "ends")),
		"overrides": arr(object(obj{"lane": integer(), "day": strf("date"), "closed": boolean(), "starts": str(), "ends": str()}, "day")),
	}),
	"JoinQueue": object(obj{"mode": obj{"type": "string", "enum": []string{"onsite", "remote"}}}, "mode"),
	"CallNext":  object(obj{"lane": integer()}, "lane"),
	"NewJob": object(obj{"title": str(), "occupation_code": str(), "skills": arr(str()), "salary_min": integer(), "salary_max": integer(),
		"education": str(), "experience_years": integer(), "county": str(), "address": str(), "latitude": obj{"type": "number"},
		"longitude": obj{"type": "number"}, "headcount": integer(), "shift": str(), "expires_at": strf("date-time")}, "title", "headcount"),
	"Apply":       object(obj{"note": str()}),
	"CloseJob":    object(obj{"reason": str()}),
	"ScheduleRun": object(obj{"dry_run": boolean(), "max_per_seeker": obj{"type": "integer", "minimum": 0, "maximum": 10, "description": "0 = 3"}}),
	"Profile": object(obj{"name": str(), "national_id": obj{"type": "string", "description": "18-character resident ID; stored encrypted, shown masked"},
		"county": str(), "address": str(), "education": str(), "skills": arr(str()), "experience_years": integer(), "desired_job": str(),
		"desired_salary": integer(), "availability": str(), "consent_profile_visible": boolean(), "consent_recording": boolean()}),
	"NewBooking": object(obj{"slot_id": integer(), "panel_slot_ids": arr(integer()), "job_post_id": integer()}, "slot_id"),
	"Invite":     object(obj{"application_id": integer(), "slot_id": integer()}, "application_id", "slot_id"),
	"Reschedule": object(obj{"slot_id": integer()}, "slot_id"),
	"Cancel":     object(obj{"reason": str()}),
	"Outcome": object(obj{"outcome": obj{"type": "string", "enum": []string{"hire_intent", "second_round", "not_suitable", "no_show"}},
		"note": str()}, "outcome"),
	"NewGroupSession": object(obj{"fair_id": integer(), "kind": obj{"type": "string", "enum": []string{"training", "info_session", "consultation"}},
		"title": str(), "start": strf("date-time"), "end": strf("date-time"), "capacity": integer()}, "kind", "title", "start", "end", "capacity"),

	"EmployerRegistration": object(obj{"lanes": integer(), "note": str()}),
	"Review": object(obj{"decision": obj{"type": "string", "enum": []string{"approve", "reject"}}, "note": str(),
		"hall_position": obj{"type": "string", "description": "required to approve; unique within the fair"}, "lanes": integer()}, "decision"),
	"BookingWindow": object(obj{"opens": strf("date-time"), "closes": strf("date-time")}, "opens", "closes"),
	"CheckIn":       object(obj{"qr_code": str()}, "qr_code"),
	"HandOff":       object(obj{"to_booth_id": integer(), "note": str()}, "to_booth_id"),
	"WalkInOutcome": object(obj{"outcome": obj{"type": "string", "enum": []string{"hire_intent", "second_round", "not_suitable"}}, "note": str()}, "outcome"),
	"AlertRule":     object(obj{"rule": obj{"type": "string", "enum": RuleNames}, "threshold": obj{"type": "number"}, "enabled": boolean()}, "rule"),
	"JobReport":     object(obj{"reason": str()}, "reason"),
	"NewCourse": object(obj{"kind": obj{"type": "string", "enum": []string{"skills", "entrepreneurship", "labour_rights"}}, "title": str(),
		"description": str()}, "kind", "title"),
	"NewCourseSession": object(obj{"start": strf("date-time"), "end": strf("date-time"), "capacity": integer()}, "start", "end", "capacity"),
	"NewConsultation": object(obj{"topic": obj{"type": "string", "enum": []string{"labour_law", "entrepreneurship"}}, "start": strf("date-time"),
		"end": strf("date-time")}, "topic", "start", "end"),
	"BookConsultation": object(obj{"question": str(), "recording_consent": obj{"type": "boolean", "default": false,
		"description": "the consultation is recorded only when true"}}),
	"NewPolicy": object(obj{"title": str(), "body": str(), "categories": arr(obj{"type": "string", "enum": PolicyCategories}),
		"counties": arr(str()), "poverty_only": boolean()}, "title", "categories"),
	"FollowUp": object(obj{"channel": obj{"type": "string", "enum": []string{"phone", "visit", "message"}},
		"status": obj{"type": "string", "enum": []string{"employed", "seeking", "in_training", "unreachable", "not_seeking"}}, "note": str()}, "channel", "status"),
}

var pathParamRE = regexp.MustCompile(`\{([a-z_]+)\}`)

// OpenAPI returns the API's OpenAPI 3 document.
func (s *Service) OpenAPI() map[string]any {
	paths := obj{}
	for _, rt := range s.Routes() {
		op := obj{
			"operationId": operationID(rt),
			"summary":     rt.Summary,
			"tags":        []string{rt.Tag},
			"x-roles":     rolesOrPublic(rt.Roles),
		}
		var params []obj
		for _, m := range pathParamRE.FindAllStringSubmatch(rt.Path, -1) {
			params = append(params, obj{"name": m[1], "in": "path", "required": true, "schema": integer()})
		}
		if rt.Idempotent {
			params = append(params, obj{"name": "Idempotency-Key", "in": "header", "required": false, "schema": obj{"type": "string", "maxLength": maxKeyLen},
				"description": "replays return the first response byte for byte and do nothing twice"})
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if rt.Body != "" {
			op["requestBody"] = obj{"required": true, "content": obj{"application/json": obj{"schema": obj{"$ref": "#/components/schemas/" + rt.Body}}}}
		}
		ct := "application/json"
		switch {
		case strings.HasSuffix(rt.Path, ".ics"):
			ct = "text/calendar"
		case strings.HasSuffix(rt.Path, ".csv"):
			ct = "text/csv"
		case strings.HasSuffix(rt.Path, ".html"):
			ct = "text/html"
		case strings.HasSuffix(rt.Path, "/stream"):
			ct = "text/event-stream"
		}
		ok := obj{"description": http.StatusText(rt.Status)}
		if rt.Status != http.StatusNoContent {
			ok["content"] = obj{ct: obj{"schema": obj{"type": "object"}}}
		}
		responses := obj{strconv.Itoa(rt.Status): ok, "default": obj{"$ref": "#/components/responses/Error"}}
		op["responses"] = responses
		if len(rt.Roles) > 0 {
			op["security"] = []obj{{"bearer": []string{}}, {"cookie": []string{}}}
		}
		item, _ := paths[rt.Path].(obj)
		if item == nil {
			item = obj{}
			paths[rt.Path] = item
		}
		item[strings.ToLower(rt.Method)] = op
	}
	schemas := obj{"Error": object(obj{"code": obj{"type": "string", "enum": []string{"invalid", "unauthorized", "forbidden", "not_found",
		"conflict", "too_large", "rate_limited", "unavailable", "internal"}}, "message": str(), "details": obj{}}, "code", "message")}
	for k, v := range requestSchemas {
		schemas[k] = v
	}
	return obj{
		"openapi": "3.0.3",
		"info": obj{"title": "jobhall booking API", "version": "1.0.0",
			"description": "Job fairs, booths, slots, holds, bookings, queues and the employment log. Errors are {code, message, details}; " +
				"a booking conflict is 409 with up to three alternative slots in details.alternatives."},
		"servers": []obj{{"url": s.publicURL}},
		"paths":   paths,
		"components": obj{
			"schemas":   schemas,
			"responses": obj{"Error": obj{"description": "error", "content": obj{"application/json": obj{"schema": obj{"$ref": "#/components/schemas/Error"}}}}},
			"securitySchemes": obj{
				"bearer": obj{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
				"cookie": obj{"type": "apiKey", "in": "cookie", "name": SessionCookie},
			},
		},
	}
}

func rolesOrPublic(roles []string) []string {
	if len(roles) == 0 {
		return []string{"public"}
	}
	return roles
}

func operationID(rt Route) string {
	p := strings.NewReplacer("/api/v1/", "", "{", "", "}", "", ".", "_", "-", "_").Replace(rt.Path)
	return strings.ToLower(rt.Method) + "_" + strings.ReplaceAll(p, "/", "_")
}

func (s *Service) handleOpenAPI(w http.ResponseWriter, r *http.Request) error {
	s.openapiOnce.Do(func() { s.openapiJSON, _ = json.Marshal(s.OpenAPI()) })
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, err := w.Write(s.openapiJSON)
	return err
}
