package orders.read

default allow := false

# A reader (or an admin) may read orders; the subject is passed upstream as a header.
allow := {"allowed": true, "headers": {"x-user-sub": input.token.sub}} if {
	some role in input.token.roles
	role in {"reader", "admin"}
}
