package matching

import (
	"math"
	"strings"
	"time"
)

// Education is an ordered education level; a job's level is a minimum.
type Education int8

const (
	EduNone     Education = iota // 不限 / none
	EduPrimary                   // 小学
	EduJunior                    // 初中
	EduSenior                    // 高中、中专、技校
	EduCollege                   // 大专
	EduBachelor                  // 本科
	EduPostgrad                  // 硕士、博士
)

var eduNames = [...][2]string{
	{"不限", "none"}, {"小学", "primary school"}, {"初中", "junior middle school"},
	{"高中/中专", "senior middle school"}, {"大专", "college"}, {"本科", "bachelor"}, {"研究生", "postgraduate"},
}

// ZH and EN name the level for reasons.
func (e Education) ZH() string { return eduNames[e.clamp()][0] }
func (e Education) EN() string { return eduNames[e.clamp()][1] }

func (e Education) clamp() Education { return max(EduNone, min(e, EduPostgrad)) }

// ParseEducation reads the names stored in booking's education columns
// (Chinese or English); unknown or empty text is EduNone.
func ParseEducation(s string) Education {
	s = strings.ToLower(strings.TrimSpace(s))
	switch {
	case s == "":
		return EduNone
	case strings.Contains(s, "博士"), strings.Contains(s, "硕士"), strings.Contains(s, "研究生"),
		strings.Contains(s, "master"), strings.Contains(s, "phd"), strings.Contains(s, "doctor"), strings.Contains(s, "postgrad"):
		return EduPostgrad
	case strings.Contains(s, "本科"), strings.Contains(s, "bachelor"), strings.Contains(s, "学士"):
		return EduBachelor
	case strings.Contains(s, "大专"), strings.Contains(s, "专科"), strings.Contains(s, "高职"), strings.Contains(s, "college"):
		return EduCollege
	case strings.Contains(s, "高中"), strings.Contains(s, "中专"), strings.Contains(s, "技校"), strings.Contains(s, "职高"), strings.Contains(s, "senior"):
		return EduSenior
	case strings.Contains(s, "初中"), strings.Contains(s, "junior"):
		return EduJunior
	case strings.Contains(s, "小学"), strings.Contains(s, "primary"):
		return EduPrimary
	}
	return EduNone
}

// Point is a WGS-84 position in degrees.
type Point struct{ Lat, Lon float64 }

// Valid reports whether p is a real position (the zero Point means unknown).
func (p Point) Valid() bool {
	return (p.Lat != 0 || p.Lon != 0) && p.Lat >= -90 && p.Lat <= 90 && p.Lon >= -180 && p.Lon <= 180
}

const earthKm = 6371.0

// DistanceKm is the great-circle distance between a and b (haversine).
func DistanceKm(a, b Point) float64 {
	const rad = math.Pi / 180
	dLat := (b.Lat - a.Lat) * rad
	dLon := (b.Lon - a.Lon) * rad
	s := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(a.Lat*rad)*math.Cos(b.Lat*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthKm * math.Asin(math.Sqrt(min(1, s)))
}

// Seeker is a job seeker's profile as matching sees it.
type Seeker struct {
	ID              int64
	Location        Point
	MaxCommuteKm    float64 // 0 = Options.DefaultCommuteKm
	Education       Education
	ExperienceYears int
	Skills          []string
	Certificates    []string
	OccupationCodes []string // desired occupations, e.g. "6-18-02-04" (国家职业分类)
	DesiredTitle    string   // 求职意向, e.g. "电焊工"
	Summary         string   // free-text experience
	SalaryMin       int      // desired monthly CNY; 0 = open
	SalaryMax       int      // 0 = open
	Visible         bool     // consented to be shown to employers (candidate lists)
}

// Job is a job post as matching sees it.
type Job struct {
	ID              int64
	EmployerID      int64
	Title           string
	Description     string
	OccupationCode  string
	Skills          []string // required skills
	Certificates    []string // required certificates
	Education       Education
	ExperienceYears int
	SalaryMin       int // monthly CNY; 0 = not stated
	SalaryMax       int
	Location        Point
	Active          bool // published and not closed or expired
	PublishedAt     time.Time
}
