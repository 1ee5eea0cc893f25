// opa-ext-authz: a stand-in for opa-envoy-plugin, used by the benchmark only when
// opa-envoy-plugin itself cannot be installed (the Go module proxy this machine uses
// refuses github.com/open-policy-agent/opa-envoy-plugin). It is deliberately thin and
// does what opa-envoy-plugin's envoyauth package does on the hot path: the CheckRequest is
// turned into the same input document (protojson of the attributes, plus parsed_path,
// parsed_query and version), one prepared Rego query is evaluated, and a boolean result
// becomes OK or PERMISSION_DENIED (403). It skips the plugin's decision IDs, metrics and
// decision-log plumbing, so it is, if anything, a little faster than the real plugin.
//
//	opa-ext-authz -addr 127.0.0.1:9291 -query data.envoy.authz.allow <policy dir>
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/url"
	"os"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/open-policy-agent/opa/v1/rego"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
)

type server struct {
	authv3.UnimplementedAuthorizationServer
	query rego.PreparedEvalQuery
}

func (s *server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	allowed, err := s.decide(ctx, req)
	if err != nil || !allowed {
		// Fail closed with an explicit deny, as opa-envoy-plugin does.
		return &authv3.CheckResponse{
			Status: &rpcstatus.Status{Code: int32(codes.PermissionDenied)},
			HttpResponse: &authv3.CheckResponse_DeniedResponse{
				DeniedResponse: &authv3.DeniedHttpResponse{Status: &typev3.HttpStatus{Code: typev3.StatusCode_Forbidden}},
			},
		}, nil
	}
	return &authv3.CheckResponse{
		Status:       &rpcstatus.Status{Code: int32(codes.OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{Headers: []*corev3.HeaderValueOption{}}},
	}, nil
}

// decide mirrors envoyauth.RequestToInput: protojson, then the parsed_* helpers.
func (s *server) decide(ctx context.Context, req *authv3.CheckRequest) (bool, error) {
	bs, err := protojson.Marshal(req)
	if err != nil {
		return false, err
	}
	var input map[string]any
	if err := json.Unmarshal(bs, &input); err != nil {
		return false, err
	}
	rawPath := req.GetAttributes().GetRequest().GetHttp().GetPath()
	pathOnly, rawQuery, _ := strings.Cut(rawPath, "?")
	parsedPath := []any{}
	for _, seg := range strings.Split(strings.TrimLeft(pathOnly, "/"), "/") {
		if dec, err := url.PathUnescape(seg); err == nil {
			parsedPath = append(parsedPath, dec)
		} else {
			parsedPath = append(parsedPath, seg)
		}
	}
	input["parsed_path"] = parsedPath
	parsedQuery := map[string]any{}
	if q, err := url.ParseQuery(rawQuery); err == nil {
		for k, vs := range q {
			list := make([]any, len(vs))
			for i, v := range vs {
				list[i] = v
			}
			parsedQuery[k] = list
		}
	}
	input["parsed_query"] = parsedQuery
	input["parsed_body"] = nil
	input["truncated_body"] = false
	input["version"] = map[string]any{"ext_authz": "v3", "encoding": "protojson"}

	rs, err := s.query.Eval(ctx, rego.EvalInput(input))
	if err != nil {
		return false, err
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return false, nil
	}
	allowed, ok := rs[0].Expressions[0].Value.(bool)
	if !ok {
		return false, fmt.Errorf("policy result is not a boolean")
	}
	return allowed, nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9291", "gRPC listen address")
	query := flag.String("query", "data.envoy.authz.allow", "Rego query")
	flag.Parse()
	if flag.NArg() == 0 {
		log.Fatal("usage: opa-ext-authz [-addr host:port] [-query q] <policy dir or file>...")
	}
	pq, err := rego.New(rego.Query(*query), rego.Load(flag.Args(), nil)).PrepareForEval(context.Background())
	if err != nil {
		log.Fatalf("prepare: %v", err)
	}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	srv := grpc.NewServer()
	authv3.RegisterAuthorizationServer(srv, &server{query: pq})
	fmt.Fprintf(os.Stderr, "opa-ext-authz: listening on %s\n", lis.Addr())
	if err := srv.Serve(lis); err != nil {
		log.Fatal(err)
	}
}
