package coalesce

import (
	"testing"
	"time"
)

func TestCombine(t *testing.T) {
	cases := []struct {
		name  string
		texts []string
		want  string
	}{
		{"none", nil, ""},
		{"one", []string{"hi"}, "hi"},
		{"trims", []string{"  hi \n", "\tthere "}, "hi\n\nthere"},
		{"drops empty", []string{"a", "", "  \n ", "b"}, "a\n\nb"},
		{"all empty", []string{"", " "}, ""},
		{"keeps inner lines", []string{"line 1\nline 2", "x"}, "line 1\nline 2\n\nx"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msgs := make([]Message, len(tc.texts))
			for i, s := range tc.texts {
				msgs[i].Text = s
			}
			if got := Combine(msgs); got != tc.want {
				t.Errorf("Combine(%q): got %q, want %q", tc.texts, got, tc.want)
			}
		})
	}
}

func TestNewBatchPriorityAndImages(t *testing.T) {
	entries := []*entry{
		{msg: Message{ID: "a", Priority: PriorityBackground, Images: []Image{{URL: "1"}}}, arrived: epoch},
		{msg: Message{ID: "b", Priority: PriorityNormal}, arrived: epoch.Add(time.Second)},
		{msg: Message{ID: "c", Priority: PriorityBackground, Images: []Image{{URL: "2"}, {URL: "3"}}}, arrived: epoch.Add(2 * time.Second)},
	}
	b := newBatch("s", entries, ReasonWindow, epoch.Add(3*time.Second))
	if got := b.Priority; got != PriorityNormal {
		t.Errorf("Priority: got %d, want %d", got, PriorityNormal)
	}
	if got := len(b.Images); got != 3 {
		t.Fatalf("images: got %d, want 3", got)
	}
	for i, want := range []string{"1", "2", "3"} {
		if got := b.Images[i].URL; got != want {
			t.Errorf("image %d: got %q, want %q", i, got, want)
		}
	}
	if !b.Arrived.Equal(epoch) {
		t.Errorf("Arrived: got %v, want %v", b.Arrived, epoch)
	}
}

func TestSplitRun(t *testing.T) {
	mk := func(images ...int) []*entry {
		out := make([]*entry, len(images))
		for i, n := range images {
			out[i] = &entry{msg: Message{Images: make([]Image, n)}}
		}
		return out
	}
	cases := []struct {
		name                   string
		images                 []int
		maxMessages, maxImages int
		want                   int
	}{
		{"empty", nil, 3, 3, 0},
		{"message cap", []int{0, 0, 0, 0}, 3, 3, 3},
		{"image cap", []int{2, 2}, 10, 3, 1},
		{"exact image cap", []int{1, 2}, 10, 3, 2},
		{"oversized first", []int{9, 0, 1}, 10, 3, 2},
		{"text after full", []int{3, 0, 0}, 10, 3, 3},
	}
	for _, tc := range cases {
		if got := splitRun(mk(tc.images...), tc.maxMessages, tc.maxImages); got != tc.want {
			t.Errorf("%s: splitRun(%v, %d, %d): got %d, want %d", tc.name, tc.images, tc.maxMessages, tc.maxImages, got, tc.want)
		}
	}
}
