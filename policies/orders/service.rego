# The orders service level: only requests made over the service's own API paths get here.
package orders.service

default allow := false

# Orders are read and written by people, not by machine tokens without a subject.
allow if input.token.sub != ""
