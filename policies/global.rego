# The global (workspace) level: applies to every API before its own policies.
package gatehouse.global

default allow := false

# Subjects listed in data.blocked_subjects are refused everywhere. Anonymous requests
# (public APIs) have no token, so only the API's own auth mode decides for them.
allow if not blocked

blocked if input.token.sub in data.blocked_subjects
