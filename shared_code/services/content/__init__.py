"""Content: courses and lessons, enrolment, learning materials, playback URLs, the video
registry, content list cursors and the content-access log."""
