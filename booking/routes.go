package booking

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"strings"
	"time"

	"jobhall/internal/apperr"
)

// Route describes one API route: the router, the OpenAPI document and the
// authorization matrix test are all built from the same table.
type Route struct {
	Method  string
	Path    string   // ServeMux pattern path, e.g. /api/v1/booths/{id}/slots
	Summary string   // one line, English
	Roles   []string // who may call it; empty: anyone, signed in or not
	Body    string   // request schema in the OpenAPI components; "" for none
	Status  int      // status on success
	Tag     string

	// Idempotent marks mutating routes that honour Idempotency-Key.
	Idempotent bool

	h func(http.ResponseWriter, *http.Request) error
}

// Routes returns the API's routes in a stable order.
func (s *Service) Routes() []Route {
	seeker := []string{RoleSeeker}
	employer := []string{RoleEmployer}
	staff := []string{RoleOfficer, RoleAdmin}
	signedIn := Roles
	teachers := []string{RoleTrainer, RoleOfficer, RoleAdmin}
	advisers := []string{RoleTrainer, RoleOfficer}
	return []Route{
		{Method: "GET", Path: "/api/v1/openapi.json", Summary: "This OpenAPI document", Status: 200, Tag: "meta", h: s.handleOpenAPI},

		// Accounts and sessions.
		{Method: "GET", Path: "/api/v1/demo/people", Summary: "Demo people to sign in as (demo mode only)", Status: 200, Tag: "session", h: s.handleDemoPeople},
		{Method: "POST", Path: "/api/v1/session/demo", Summary: "Demo sign-in (demo mode only)", Body: "DemoSession", Status: 200, Tag: "session", h: s.handleDemoSession},
		{Method: "POST", Path: "/api/v1/auth/otp", Summary: "Send a one-time sign-in code to a seeker's phone", Body: "OTPRequest", Status: 202, Tag: "session", h: s.handleOTPRequest},
		{Method: "POST", Path: "/api/v1/auth/otp/verify", Summary: "Sign a seeker in with the phone code (registers new phones)", Body: "OTPVerify", Status: 200, Tag: "session", h: s.handleOTPVerify},
		{Method: "POST", Path: "/api/v1/auth/login", Summary: "Sign staff, trainers, officers and administrators in by password", Body: "Login", Status: 200, Tag: "session", h: s.handleLogin},
		{Method: "GET", Path: "/api/v1/session", Summary: "Who is signed in", Roles: signedIn, Status: 200, Tag: "session", h: s.handleSession},
		{Method: "DELETE", Path: "/api/v1/session", Summary: "Sign out (clears the cookie)", Status: 204, Tag: "session", h: s.handleSignOut},
		{Method: "POST", Path: "/api/v1/accounts", Summary: "Create a password account", Roles: []string{RoleAdmin}, Body: "NewAccount", Status: 201, Tag: "admin", Idempotent: true, h: s.handleCreateAccount},
		{Method: "POST", Path: "/api/v1/employers", Summary: "Register an employer (unverified)", Roles: staff, Body: "NewEmployer", Status: 201, Tag: "admin", Idempotent: true, h: s.handleCreateEmployer},
		{Method: "POST", Path: "/api/v1/employers/{id}/verify", Summary: "Verify an employer so it may post jobs and take booths", Roles: staff, Status: 200, Tag: "admin", Idempotent: true, h: s.handleVerifyEmployer},
		{Method: "POST", Path: "/api/v1/webhooks", Summary: "Subscribe a URL to signed webhook events", Roles: []string{RoleEmployer, RoleAdmin}, Body: "NewWebhook", Status: 201, Tag: "webhooks", Idempotent: true, h: s.handleCreateWebhook},

		// Fairs and booths.
		{Method: "GET", Path: "/api/v1/fairs/current", Summary: "The next fair (today or later)", Status: 200, Tag: "fairs", h: s.handleCurrentFair},
		{Method: "POST", Path: "/api/v1/fairs", Summary: "Create a job fair (the creating officer runs it)", Roles: staff, Body: "NewFair", Status: 201, Tag: "fairs", Idempotent: true, h: s.handleCreateFair},
		{Method: "GET", Path: "/api/v1/fairs/{id}/booths", Summary: "Booths of a fair (paginated, searchable)", Status: 200, Tag: "fairs", h: s.handleFairBooths},
		{Method: "POST", Path: "/api/v1/fairs/{id}/booths", Summary: "Give a verified employer a booth at the fair", Roles: staff, Body: "NewBooth", Status: 201, Tag: "fairs", Idempotent: true, h: s.handleCreateBooth},
		{Method: "GET", Path: "/api/v1/fairs/{id}/bookings", Summary: "Every booking of a fair (officers of the fair)", Roles: staff, Status: 200, Tag: "fairs", h: s.handleFairBookings},
		{Method: "GET", Path: "/api/v1/fairs/{id}/free-slots", Summary: "Fair-wide free-slot map: free lanes per booth and start time", Status: 200, Tag: "fairs", h: s.handleFreeSlotMap},
		{Method: "GET", Path: "/api/v1/booths/{id}/slots", Summary: "Free slots of a booth on a day", Status: 200, Tag: "booths", h: s.handleBoothSlots},
		{Method: "PUT", Path: "/api/v1/booths/{id}/availability", Summary: "Replace a booth's availability rules and overrides; regenerates the fair day's slots", Roles: []string{RoleEmployer, RoleOfficer, RoleAdmin}, Body: "Availability", Status: 200, Tag: "booths", Idempotent: true, h: s.handlePutAvailability},
		{Method: "GET", Path: "/api/v1/booths/{id}/schedule", Summary: "A booth's bookings on a day with interviewer join links", Roles: []string{RoleEmployer, RoleOfficer, RoleAdmin}, Status: 200, Tag: "booths", h: s.handleBoothSchedule},
		{Method: "GET", Path: "/api/v1/booths/{id}/calendar-feeds", Summary: "Subscribable iCalendar feed URLs, one per interviewer lane", Roles: employer, Status: 200, Tag: "calendar", h: s.handleCalendarFeeds},
		{Method: "GET", Path: "/api/v1/booths/{id}/lanes/{lane}/calendar.ics", Summary: "iCalendar feed of one interviewer lane (signed feed token in the query)", Status: 200, Tag: "calendar", h: s.handleLaneFeed},
		{Method: "POST", Path: "/api/v1/booths/{id}/queue", Summary: "Join a booth's walk-in queue (on-site or remote)", Roles: seeker, Body: "JoinQueue", Status: 201, Tag: "queue", Idempotent: true, h: s.handleJoinQueue},
		{Method: "GET", Path: "/api/v1/booths/{id}/queue", Summary: "Who is waiting at a booth", Roles: []string{RoleEmployer, RoleOfficer, RoleAdmin}, Status: 200, Tag: "queue", h: s.handleListQueue},
		{Method: "POST", Path: "/api/v1/booths/{id}/queue/next", Summary: "Call the next walk-in seeker to a lane", Roles: employer, Body: "CallNext", Status: 200, Tag: "queue", Idempotent: true, h: s.handleCallNext},

		// Jobs, applications, profiles.
		{Method: "GET", Path: "/api/v1/jobs", Summary: "Published job posts (paginated, filterable)", Status: 200, Tag: "jobs", h: s.handleListJobs},
		{Method: "POST", Path: "/api/v1/jobs", Summary: "Publish a job post (verified employers)", Roles: employer, Body: "NewJob", Status: 201, Tag: "jobs", Idempotent: true, h: s.handleCreateJob},
		{Method: "GET", Path: "/api/v1/jobs/{id}", Summary: "One job post; a signed-in seeker's view is remembered", Status: 200, Tag: "jobs", h: s.handleGetJob},
		{Method: "GET", Path: "/api/v1/jobs/{id}/slots", Summary: "Ranked free interview slots for a job (the employer's booths)", Status: 200, Tag: "jobs", h: s.handleJobSlots},
		{Method: "POST", Path: "/api/v1/jobs/{id}/applications", Summary: "Apply to a job", Roles: seeker, Body: "Apply", Status: 201, Tag: "jobs", Idempotent: true, h: s.handleApply},
		{Method: "GET", Path: "/api/v1/jobs/{id}/applications", Summary: "Applicants to one of the employer's jobs", Roles: employer, Status: 200, Tag: "jobs", h: s.handleListApplications},
		{Method: "GET", Path: "/api/v1/jobs/{id}/viewers", Summary: "Seekers who viewed the job and let employers see their profile", Roles: employer, Status: 200, Tag: "jobs", h: s.handleJobViewers},
		{Method: "POST", Path: "/api/v1/jobs/{id}/close", Summary: "Close a job post (its employer or an administrator)", Roles: []string{RoleEmployer, RoleAdmin}, Body: "CloseJob", Status: 200, Tag: "jobs", Idempotent: true, h: s.handleCloseJob},

		// Matching (matching.go): the feed, candidate lists and explanations.
		{Method: "GET", Path: "/api/v1/me/feed", Summary: "The signed-in seeker's job feed: best matches first, with reasons (filterable, paginated)", Roles: seeker, Status: 200, Tag: "matching", h: s.handleFeed},
		{Method: "GET", Path: "/api/v1/jobs/{id}/candidates", Summary: "Best-matching consenting seekers for a job, with reasons (its employer, officers of its fairs; audited)", Roles: []string{RoleEmployer, RoleOfficer, RoleAdmin}, Status: 200, Tag: "matching", h: s.handleCandidates},
		{Method: "GET", Path: "/api/v1/jobs/{id}/match", Summary: "Why a job and a seeker match or not (the seeker, or staff allowed to see the job's candidates; audited)", Roles: []string{RoleSeeker, RoleEmployer, RoleOfficer, RoleAdmin}, Status: 200, Tag: "matching", h: s.handleExplainMatch},
		{Method: "GET", Path: "/api/v1/seekers/{id}/card", Summary: "A seeker's profile card (consent and relationship checked; audited)", Roles: []string{RoleEmployer, RoleOfficer, RoleAdmin}, Status: 200, Tag: "profiles", h: s.handleProfileCard},
		{Method: "GET", Path: "/api/v1/me/profile", Summary: "The signed-in seeker's profile (national ID masked)", Roles: seeker, Status: 200, Tag: "profiles", h: s.handleGetProfile},
		{Method: "PUT", Path: "/api/v1/me/profile", Summary: "Update the signed-in seeker's profile and consent", Roles: seeker, Body: "Profile", Status: 200, Tag: "profiles", Idempotent: true, h: s.handlePutProfile},
		{Method: "GET", Path: "/api/v1/me/audit", Summary: "Who viewed the signed-in seeker's profile or recordings", Roles: seeker, Status: 200, Tag: "profiles", h: s.handleMyAudit},

		// Bookings.
		{Method: "POST", Path: "/api/v1/bookings", Summary: "Book a slot (or a panel of lanes) at once", Roles: seeker, Body: "NewBooking", Status: 201, Tag: "bookings", Idempotent: true, h: s.handleCreateBooking},
		{Method: "POST", Path: "/api/v1/holds", Summary: "Hold a slot for a few minutes before confirming", Roles: seeker, Body: "NewBooking", Status: 201, Tag: "bookings", Idempotent: true, h: s.handleCreateHold},
		{Method: "POST", Path: "/api/v1/invitations", Summary: "Invite an applicant to a slot (a hold the seeker confirms)", Roles: employer, Body: "Invite", Status: 201, Tag: "bookings", Idempotent: true, h: s.handleInvite},
		{Method: "POST", Path: "/api/v1/bookings/{id}/confirm", Summary: "Confirm a hold or an invitation", Roles: seeker, Status: 200, Tag: "bookings", Idempotent: true, h: s.handleConfirm},
		{Method: "POST", Path: "/api/v1/bookings/{id}/reschedule", Summary: "Move a booking to another slot in one transaction", Roles: []string{RoleSeeker, RoleEmployer}, Body: "Reschedule", Status: 200, Tag: "bookings", Idempotent: true, h: s.handleReschedule},
		{Method: "POST", Path: "/api/v1/bookings/{id}/cancel", Summary: "Cancel a booking, hold or invitation", Roles: []string{RoleSeeker, RoleEmployer}, Body: "Cancel", Status: 200, Tag: "bookings", Idempotent: true, h: s.handleCancel},
		{Method: "POST", Path: "/api/v1/bookings/{id}/outcome", Summary: "Record the interview's outcome", Roles: employer, Body: "Outcome", Status: 200, Tag: "bookings", Idempotent: true, h: s.handleOutcome},
		{Method: "GET", Path: "/api/v1/bookings/{id}/calendar.ics", Summary: "iCalendar file of one booking", Roles: []string{RoleSeeker, RoleEmployer}, Status: 200, Tag: "calendar", h: s.handleBookingICS},
		{Method: "GET", Path: "/api/v1/me/bookings", Summary: "The signed-in seeker's bookings", Roles: seeker, Status: 200, Tag: "bookings", h: s.handleMyBookings},
		{Method: "GET", Path: "/api/v1/me/log", Summary: "The signed-in seeker's employment log (paginated)", Roles: seeker, Status: 200, Tag: "bookings", h: s.handleMyLog},

		// Recordings and the employment log archive (recordings.go, export.go); every staff view is audited.
		{Method: "GET", Path: "/api/v1/me/log.csv", Summary: "Export the signed-in seeker's whole employment log as CSV", Roles: seeker, Status: 200, Tag: "recordings", h: s.handleMyLogExport("csv")},
		{Method: "GET", Path: "/api/v1/me/log.json", Summary: "Export the signed-in seeker's whole employment log as JSON", Roles: seeker, Status: 200, Tag: "recordings", h: s.handleMyLogExport("json")},
		{Method: "GET", Path: "/api/v1/seekers/{id}/log.csv", Summary: "Export a seeker's employment log as CSV (officers of the seeker's fairs; audited)", Roles: staff, Status: 200, Tag: "recordings", h: s.handleSeekerLogExport("csv")},
		{Method: "GET", Path: "/api/v1/seekers/{id}/log.json", Summary: "Export a seeker's employment log as JSON (officers of the seeker's fairs; audited)", Roles: staff, Status: 200, Tag: "recordings", h: s.handleSeekerLogExport("json")},
		{Method: "GET", Path: "/api/v1/me/recordings", Summary: "The signed-in seeker's interview recordings", Roles: seeker, Status: 200, Tag: "recordings", h: s.handleMyRecordings},
		{Method: "GET", Path: "/api/v1/seekers/{id}/recordings", Summary: "A seeker's interview recordings (officers of the seeker's fairs; audited)", Roles: staff, Status: 200, Tag: "recordings", h: s.handleSeekerRecordings},
		{Method: "GET", Path: "/api/v1/bookings/{id}/recordings", Summary: "An interview's recordings (its seeker, its employer, officers of its fair; audited)", Roles: []string{RoleSeeker, RoleEmployer, RoleOfficer, RoleAdmin}, Status: 200, Tag: "recordings", h: s.handleBookingRecordings},
		{Method: "GET", Path: "/api/v1/recordings/{id}/media", Summary: "Play a recording (its seeker, its employer, officers of its fair; every access audited; Range supported)", Roles: []string{RoleSeeker, RoleEmployer, RoleOfficer, RoleAdmin}, Status: 200, Tag: "recordings", h: s.handleRecordingMedia},
		{Method: "PUT", Path: "/api/v1/recordings/{id}/legal-hold", Summary: "Put a recording on legal hold (kept past retention) or release it (officers of its fair; audited)", Roles: staff, Body: "LegalHold", Status: 200, Tag: "recordings", Idempotent: true, h: s.handleLegalHold},

		// Group sessions.
		{Method: "GET", Path: "/api/v1/group-sessions", Summary: "Trainings, information sessions and consultations", Status: 200, Tag: "sessions", h: s.handleListGroupSessions},
		{Method: "POST", Path: "/api/v1/group-sessions", Summary: "Create a group session with seats", Roles: []string{RoleTrainer, RoleOfficer, RoleAdmin}, Body: "NewGroupSession", Status: 201, Tag: "sessions", Idempotent: true, h: s.handleCreateGroupSession},
		{Method: "POST", Path: "/api/v1/group-sessions/{id}/seats", Summary: "Take a seat in a group session", Roles: seeker, Status: 201, Tag: "sessions", Idempotent: true, h: s.handleTakeSeat},

		// Fair-day operations (fairs_ops.go, stats.go, report.go).
		{Method: "POST", Path: "/api/v1/fairs/{id}/employer-registrations", Summary: "Register the signed-in employer for a fair (reviewed by an officer)", Roles: employer, Body: "EmployerRegistration", Status: 201, Tag: "fair-ops", Idempotent: true, h: s.handleEmployerRegistration},
		{Method: "GET", Path: "/api/v1/fairs/{id}/employer-registrations", Summary: "Employers' registrations for a fair (officers of the fair)", Roles: staff, Status: 200, Tag: "fair-ops", h: s.handleListEmployerRegistrations},
		{Method: "POST", Path: "/api/v1/employer-registrations/{id}/review", Summary: "Approve (assigning the booth's hall position and lanes) or reject a registration", Roles: staff, Body: "Review", Status: 200, Tag: "fair-ops", Idempotent: true, h: s.handleReviewEmployer},
		{Method: "PUT", Path: "/api/v1/fairs/{id}/booking-window", Summary: "Open or close the fair's booking window", Roles: staff, Body: "BookingWindow", Status: 200, Tag: "fair-ops", Idempotent: true, h: s.handleBookingWindow},
		{Method: "POST", Path: "/api/v1/booths/{id}/arrive", Summary: "Booth staff check in: the employer is present", Roles: employer, Status: 200, Tag: "fair-ops", Idempotent: true, h: s.handleBoothArrive},
		{Method: "POST", Path: "/api/v1/fairs/{id}/registrations", Summary: "Register the signed-in seeker for a fair; returns the check-in QR code", Roles: seeker, Status: 201, Tag: "fair-ops", Idempotent: true, h: s.handleSeekerRegistration},
		{Method: "GET", Path: "/api/v1/me/fair-registrations", Summary: "The signed-in seeker's fair registrations with their QR codes", Roles: seeker, Status: 200, Tag: "fair-ops", h: s.handleMyFairRegistrations},
		{Method: "GET", Path: "/api/v1/me/fair-registrations/{id}/qr.png", Summary: "The seeker's entrance pass for one registration as a QR code image", Roles: seeker, Status: 200, Tag: "fair-ops", h: s.handleMyPassImage},
		{Method: "POST", Path: "/api/v1/fairs/{id}/checkin", Summary: "Check a registered seeker in at the hall entrance by QR code (once)", Roles: staff, Body: "CheckIn", Status: 200, Tag: "fair-ops", Idempotent: true, h: s.handleHallCheckIn},
		{Method: "POST", Path: "/api/v1/booths/{id}/checkin", Summary: "Scan a checked-in seeker's QR code at a booth: joins its walk-in queue", Roles: employer, Body: "CheckIn", Status: 201, Tag: "fair-ops", Idempotent: true, h: s.handleBoothCheckIn},
		{Method: "POST", Path: "/api/v1/queue-entries/{id}/handoff", Summary: "Hand a seeker off to another booth's queue, where they go first", Roles: employer, Body: "HandOff", Status: 201, Tag: "fair-ops", Idempotent: true, h: s.handleHandOff},
		{Method: "POST", Path: "/api/v1/queue-entries/{id}/outcome", Summary: "Record a walk-in interview's outcome", Roles: employer, Body: "WalkInOutcome", Status: 200, Tag: "fair-ops", Idempotent: true, h: s.handleWalkInOutcome},
		{Method: "GET", Path: "/api/v1/fairs/{id}/stats", Summary: "Live fair statistics (frozen once the fair closes), per county and sector", Roles: staff, Status: 200, Tag: "fair-ops", h: s.handleFairStats},
		{Method: "GET", Path: "/api/v1/fairs/{id}/report.csv", Summary: "The fair's frozen report as CSV", Roles: staff, Status: 200, Tag: "fair-ops", h: s.handleReportCSV},
		{Method: "GET", Path: "/api/v1/fairs/{id}/report.html", Summary: "The fair's frozen report as a printable page with charts", Roles: staff, Status: 200, Tag: "fair-ops", h: s.handleReportHTML},

		// Fair-day auto-scheduler (schedule.go).
		{Method: "POST", Path: "/api/v1/fairs/{id}/schedule-runs", Summary: "Auto-schedule the fair's registered seekers into interviews (one run per fair at a time; poll the run)", Roles: staff, Body: "ScheduleRun", Status: 202, Tag: "scheduler", Idempotent: true, h: s.handleStartScheduleRun},
		{Method: "GET", Path: "/api/v1/schedule-runs/{id}", Summary: "A scheduler run's status, progress and report", Roles: staff, Status: 200, Tag: "scheduler", h: s.handleGetScheduleRun},
		{Method: "GET", Path: "/api/v1/booths/{id}/timetable", Summary: "A booth's timetable of the fair day: every lane's slots and who is booked in them", Roles: []string{RoleEmployer, RoleOfficer, RoleAdmin}, Status: 200, Tag: "scheduler", h: s.handleBoothTimetable},

		// Monitoring and early warning (alerts.go).
		{Method: "GET", Path: "/api/v1/alert-rules", Summary: "Monitoring rules and their thresholds", Roles: staff, Status: 200, Tag: "monitoring", h: s.handleListAlertRules},
		{Method: "PUT", Path: "/api/v1/alert-rules", Summary: "Change a rule's threshold or switch it on or off", Roles: staff, Body: "AlertRule", Status: 200, Tag: "monitoring", Idempotent: true, h: s.handlePutAlertRule},
		{Method: "GET", Path: "/api/v1/alerts", Summary: "Alerts, newest first (open ones by default)", Roles: staff, Status: 200, Tag: "monitoring", h: s.handleListAlerts},
		{Method: "GET", Path: "/api/v1/alerts/stream", Summary: "Live alert events (server-sent events: open, raised, cleared, acked)", Roles: staff, Status: 200, Tag: "monitoring", h: s.handleAlertStream},
		{Method: "POST", Path: "/api/v1/alerts/{id}/ack", Summary: "Acknowledge an alert", Roles: staff, Status: 200, Tag: "monitoring", Idempotent: true, h: s.handleAckAlert},
		{Method: "POST", Path: "/api/v1/jobs/{id}/reports", Summary: "Report a suspicious job post", Roles: seeker, Body: "JobReport", Status: 201, Tag: "monitoring", Idempotent: true, h: s.handleReportJob},

		// Training and consultations (training.go).
		{Method: "GET", Path: "/api/v1/courses", Summary: "Training courses with their upcoming sessions", Status: 200, Tag: "training", h: s.handleListCourses},
		{Method: "POST", Path: "/api/v1/courses", Summary: "Create a course (skills, entrepreneurship, labour rights)", Roles: teachers, Body: "NewCourse", Status: 201, Tag: "training", Idempotent: true, h: s.handleCreateCourse},
		{Method: "POST", Path: "/api/v1/courses/{id}/sessions", Summary: "Schedule a broadcast session of a course with seats", Roles: teachers, Body: "NewCourseSession", Status: 201, Tag: "training", Idempotent: true, h: s.handleCreateCourseSession},
		{Method: "GET", Path: "/api/v1/group-sessions/{id}/join", Summary: "Join link of a session's broadcast room (seat holders watch, the trainer presents)", Roles: []string{RoleSeeker, RoleTrainer, RoleOfficer, RoleAdmin}, Status: 200, Tag: "training", h: s.handleSessionJoin},
		{Method: "GET", Path: "/api/v1/group-sessions/{id}/attendance", Summary: "Attendance from room join and leave events (live, or final once taken)", Roles: teachers, Status: 200, Tag: "training", h: s.handleSessionAttendance},
		{Method: "POST", Path: "/api/v1/group-sessions/{id}/attendance", Summary: "Take the final attendance of an ended session; certificates go to the employment log", Roles: teachers, Status: 200, Tag: "training", Idempotent: true, h: s.handleSessionAttendance},
		{Method: "GET", Path: "/api/v1/consultations", Summary: "Free consultation times with lawyers and entrepreneurship advisers", Status: 200, Tag: "consultations", h: s.handleListConsultations},
		{Method: "POST", Path: "/api/v1/consultations", Summary: "Offer a one-to-one consultation time (the signed-in adviser)", Roles: advisers, Body: "NewConsultation", Status: 201, Tag: "consultations", Idempotent: true, h: s.handleCreateConsultation},
		{Method: "POST", Path: "/api/v1/consultations/{id}/book", Summary: "Book a consultation (private; recorded only with explicit consent)", Roles: seeker, Body: "BookConsultation", Status: 200, Tag: "consultations", Idempotent: true, h: s.handleBookConsultation},
		{Method: "GET", Path: "/api/v1/consultations/{id}", Summary: "A consultation with its join link (its seeker and adviser only)", Roles: []string{RoleSeeker, RoleTrainer, RoleOfficer}, Status: 200, Tag: "consultations", h: s.handleGetConsultation},
		{Method: "GET", Path: "/api/v1/me/consultations", Summary: "The signed-in seeker's or adviser's consultations", Roles: []string{RoleSeeker, RoleTrainer, RoleOfficer}, Status: 200, Tag: "consultations", h: s.handleMyConsultations},

		// Policies and the poverty-alleviation follow-up (policies.go).
		{Method: "GET", Path: "/api/v1/policies", Summary: "Policy notices (searchable; by category and county)", Status: 200, Tag: "policies", h: s.handleListPolicies},
		{Method: "POST", Path: "/api/v1/policies", Summary: "Publish a policy notice", Roles: staff, Body: "NewPolicy", Status: 201, Tag: "policies", Idempotent: true, h: s.handleCreatePolicy},
		{Method: "GET", Path: "/api/v1/me/policies", Summary: "Policy notices that apply to the signed-in seeker", Roles: seeker, Status: 200, Tag: "policies", h: s.handleMyPolicies},
		{Method: "GET", Path: "/api/v1/poverty/followups", Summary: "Registered poverty-alleviation seekers with no interview or no job for N days (audited)", Roles: staff, Status: 200, Tag: "poverty", h: s.handleFollowUpList},
		{Method: "POST", Path: "/api/v1/seekers/{id}/followups", Summary: "Log a follow-up call or visit with a registered poverty-alleviation seeker", Roles: staff, Body: "FollowUp", Status: 201, Tag: "poverty", Idempotent: true, h: s.handleFollowUp},

		// Last: closing freezes the report.
		{Method: "POST", Path: "/api/v1/fairs/{id}/close", Summary: "Close the fair and freeze its report", Roles: staff, Status: 200, Tag: "fair-ops", Idempotent: true, h: s.handleCloseFair},
	}
}

// Handler serves the booking API under /api/v1/.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.Routes() {
		mux.Handle(rt.Method+" "+rt.Path, s.wrap(rt))
	}
	mux.Handle("/api/v1/", s.wrap(Route{h: func(http.ResponseWriter, *http.Request) error {
		return apperr.New(apperr.NotFound, "没有这个接口 / no such API route or method")
	}}))
	return mux
}

func (s *Service) wrap(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		err := s.serve(w, r, rt)
		if err != nil {
			if c := apperr.CodeOf(err); c != apperr.Internal && c != apperr.Unavailable {
				s.log.DebugContext(r.Context(), "booking: request refused", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			apperr.WriteHTTP(w, r, err)
		}
	})
}

func (s *Service) serve(w http.ResponseWriter, r *http.Request, rt Route) error {
	p, hasSession := principal{}, false
	if len(rt.Roles) > 0 {
		var err error
		if p, err = s.require(r, rt.Roles...); err != nil {
			return err
		}
		hasSession = true
		r = r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
	}
	key := r.Header.Get("Idempotency-Key")
	if !rt.Idempotent || key == "" {
		return rt.h(w, r)
	}
	if !hasSession {
		return rt.h(w, r) // every idempotent route requires a session
	}
	return s.idempotent(w, r, rt, p, key)
}

const (
	maxKeyLen    = 200 // bound of an Idempotency-Key
	storeTimeout = 10 * time.Second
)

// idempotent runs rt at most once per (principal, key): the first response
// is stored and replayed byte for byte; a different request under the same
// key is refused. A 5xx is not stored, so a retry runs again.
func (s *Service) idempotent(w http.ResponseWriter, r *http.Request, rt Route, p principal, key string) error {
	if len(key) > maxKeyLen || strings.ContainsFunc(key, func(c rune) bool { return c < 0x21 || c > 0x7e }) {
		return apperr.New(apperr.Invalid, "Idempotency-Key 无效 / Idempotency-Key must be 1 to %d printable ASCII characters", maxKeyLen)
	}
	if r.ContentLength > maxBody {
		return apperr.New(apperr.TooLarge, "request body is over %d bytes", maxBody)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return jsonError(err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	h := sha256.New()
	io.WriteString(h, r.Method+" "+r.URL.RequestURI()+"\n"+r.Header.Get("Content-Type")+"\n")
	h.Write(body)
	sum := h.Sum(nil)
	ctx := r.Context()
	who := p.actor()

	claim := &keyClaim{id: keyID{who, key}, hash: sum}
	s.claims.do(ctx, claim)
	if claim.err != nil {
		return apperr.Wrap(claim.err, apperr.Unavailable, "database unavailable")
	}
	if !claim.claimed {
		var hash, stored []byte
		var status int
		if err := s.pool.QueryRow(ctx, `SELECT request_hash, status, body FROM idempotency_keys WHERE principal = $1 AND key = $2`,
			who, key).Scan(&hash, &status, &stored); err != nil {
			if isNoRows(err) { // the first attempt failed and let go of the key
				return apperr.New(apperr.Conflict, "请重试 / the first request with this Idempotency-Key failed; retry")
			}
			return internal(err, "read idempotency key")
		}
		if !bytes.Equal(hash, sum) {
			return apperr.New(apperr.Invalid, "Idempotency-Key 已用于另一个请求 / this Idempotency-Key was already used for a different request")
		}
		if status == 0 {
			return apperr.New(apperr.Conflict, "相同的请求正在处理 / a request with this Idempotency-Key is still in progress; retry shortly")
		}
		w.Header().Set("Idempotent-Replayed", "true")
		if len(stored) > 0 {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
		}
		w.WriteHeader(status)
		_, _ = w.Write(stored)
		return nil
	}

	rec := &recorder{header: http.Header{}}
	herr := rt.h(rec, r)
	if herr != nil {
		rec = &recorder{header: http.Header{}}
		apperr.WriteHTTP(rec, r, herr)
	}
	// A fresh context: the client going away must not leave the key stuck.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if rec.status >= 500 || rec.status == 0 {
		_, _ = s.pool.Exec(sctx, `DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2`, who, key)
	} else {
		st := &keyStore{id: keyID{who, key}, hash: sum, status: rec.status, body: rec.body.Bytes()}
		if s.stores.do(sctx, st); st.err != nil {
			s.log.ErrorContext(ctx, "booking: store idempotent response", "key", key, "err", st.err)
		}
	}
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	w.WriteHeader(rec.status)
	_, _ = w.Write(rec.body.Bytes())
	return nil
}

// Capture serves req with h in process and returns the status (0 when the
// handler wrote nothing) and body; cmd/jobhall answers a page's first API
// calls this way.
func Capture(h http.Handler, req *http.Request) (int, []byte) {
	rec := &recorder{header: http.Header{}}
	h.ServeHTTP(rec, req)
	return rec.status, rec.body.Bytes()
}

// recorder captures a handler's response so it can be stored.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

// Idempotency-Keys are claimed and their answers stored in batches (see
// batcher): under load each would otherwise be a transaction of its own,
// twice per request, each with its WAL flush.

type keyID struct{ principal, key string }

// keyClaim inserts a key unless it exists; claimed tells which.
type keyClaim struct {
	id      keyID
	hash    []byte
	claimed bool
	err     error
}

// keyStore records the answer given under a claimed key.
type keyStore struct {
	id     keyID
	hash   []byte // the request's, in case the row is gone (forgotten after a day)
	status int
	body   []byte
	err    error
}

func (s *Service) newClaimBatcher() *batcher[keyClaim, keyID] {
	return &batcher[keyClaim, keyID]{inFlight: 2, max: 64, key: func(c *keyClaim) keyID { return c.id }, run: s.claimKeys}
}

func (s *Service) newStoreBatcher() *batcher[keyStore, keyID] {
	return &batcher[keyStore, keyID]{inFlight: 2, max: 64, key: func(c *keyStore) keyID { return c.id }, run: s.storeKeys}
}

func (s *Service) claimKeys(ctx context.Context, cs []*keyClaim) {
	who, keys, hashes := make([]string, len(cs)), make([]string, len(cs)), make([][]byte, len(cs))
	for i, c := range cs {
		who[i], keys[i], hashes[i] = c.id.principal, c.id.key, c.hash
	}
	// The leader's client may go away; the others' claims must not.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, `INSERT INTO idempotency_keys (principal, key, request_hash)
		SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[]) ON CONFLICT DO NOTHING RETURNING principal, key`, who, keys, hashes)
	won := map[keyID]bool{}
	if err == nil {
		for rows.Next() {
			var id keyID
			if err = rows.Scan(&id.principal, &id.key); err != nil {
				break
			}
			won[id] = true
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	if err != nil && len(cs) > 1 { // one bad row must not fail the others
		for _, c := range cs {
			s.claimKeys(ctx, []*keyClaim{c})
		}
		return
	}
	for _, c := range cs {
		c.claimed, c.err = won[c.id], err
	}
}

func (s *Service) storeKeys(ctx context.Context, ss []*keyStore) {
	n := len(ss)
	who, keys, hashes, statuses, bodies := make([]string, n), make([]string, n), make([][]byte, n), make([]int32, n), make([][]byte, n)
	for i, st := range ss {
		who[i], keys[i], hashes[i], statuses[i], bodies[i] = st.id.principal, st.id.key, st.hash, int32(st.status), st.body
	}
	// An upsert rather than UPDATE … FROM unnest: the conflict check always
	// goes through the primary key, whatever plan the join would get (a
	// generic plan made while the table was empty scans it whole).
	_, err := s.pool.Exec(ctx, `INSERT INTO idempotency_keys (principal, key, request_hash, status, body)
		SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::int[], $5::bytea[])
		ON CONFLICT (principal, key) DO UPDATE SET status = EXCLUDED.status, body = EXCLUDED.body`, who, keys, hashes, statuses, bodies)
	if err != nil && len(ss) > 1 {
		for _, st := range ss {
			s.storeKeys(ctx, []*keyStore{st})
		}
		return
	}
	for _, st := range ss {
		st.err = err
	}
}
