package pluginmgr

// CheckAnswer exposes the answer caps to the external tests.
var CheckAnswer = checkAnswer
