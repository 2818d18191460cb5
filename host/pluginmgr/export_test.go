package pluginmgr

// CheckAnswer exposes the answer caps to the external tests.
var CheckAnswer = checkAnswer

// CallName exposes the method labels to the external tests.
var CallName = callName
