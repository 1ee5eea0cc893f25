package admin.api

default allow := false

allow if "admin" in input.token.roles
