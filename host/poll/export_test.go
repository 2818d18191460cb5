package poll

// NextPoll exposes nextPoll to the external tests.
var NextPoll = nextPoll
