package cluster

// NoticeBurst and NoticeWindow bound the revision checks notices cause, for
// the tests of package cluster_test.
const (
	NoticeBurst  = noticeBurst
	NoticeWindow = noticeWindow
)
