package orders.write

default allow := false

allow := {"allowed": true, "headers": {"x-user-sub": input.token.sub}} if {
	"writer" in input.token.roles
}

# A reader who tries to write gets a precise answer.
allow := {
	"allowed": false,
	"http_status": 403,
	"body": "{\"error\":\"orders are read-only for you\"}",
	"headers": {"content-type": "application/json"},
} if {
	not "writer" in input.token.roles
}
