// Keyboard: j/k/Enter/a/c/r, / and ? (issue #15).
