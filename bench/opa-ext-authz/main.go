// opa-ext-authz: a stand-in for opa-envoy-plugin, used by the benchmark only when
// opa-envoy-plugin itself cannot be installed (the Go module proxy this machine uses
// refuses github.com/open-policy-agent/opa-envoy-plugin). It does, per Check, the work
// opa-envoy-plugin v1.19's envoy_ext_authz_grpc plugin does on its hot path (read from its
// public source and docs; written here from that description):
//
//   - a fresh evaluation record: a metrics set with the server-handler timer running and a
//     random UUID decision ID, and a logger carrying that decision ID;
//   - a read transaction on the in-memory store, aborted when the check ends;
//   - the input document: the CheckRequest marshalled with protojson, unmarshalled with
//     OPA's JSON decoder (numbers as json.Number), plus version, parsed_path and
//     parsed_query (from url.Parse of the :path), parsed_body and truncated_body (the body
//     parsed when the content type is JSON);
//   - the input converted once to an AST value (ast.InterfaceToValue), then evaluated with
//     one prepared query (prepared on the first check, reused after, as the plugin's
//     CreatePreparedQueryOnce does), with the transaction, metrics, the inter-query builtin
//     cache and a print hook passed per evaluation;
//   - an undefined or multiple result is an error; a boolean or an object's "allowed"
//     decides; an object may also carry headers, body and http_status;
//   - the decision ID is returned in the response's dynamic metadata.
//
// What it leaves out is what the bench does not configure in the real plugin either:
// decision logs (off), Prometheus performance metrics (off by default), tracing (off),
// the ext_authz v2 service, dry-run, gRPC request-body parsing (no proto descriptor).
//
//	opa-ext-authz -addr 127.0.0.1:9291 -path envoy/authz/allow <policy dir>
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"math"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/google/uuid"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/loader"
	"github.com/open-policy-agent/opa/v1/logging"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown/builtins"
	iCache "github.com/open-policy-agent/opa/v1/topdown/cache"
	"github.com/open-policy-agent/opa/v1/topdown/print"
	"github.com/open-policy-agent/opa/v1/util"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// The input's version block for ext_authz v3, as the plugin documents it.
var v3Version = map[string]string{"ext_authz": "v3", "encoding": "protojson"}

type server struct {
	authv3.UnimplementedAuthorizationServer
	store       storage.Store
	compiler    *ast.Compiler
	parsedQuery ast.Body
	runtime     *ast.Term
	logger      logging.Logger
	iqCache     iCache.InterQueryCache

	prepareOnce sync.Once
	prepared    *rego.PreparedEvalQuery
	prepareErr  error
}

type printHook struct{ logger logging.Logger }

func (h *printHook) Print(pctx print.Context, msg string) error {
	h.logger.Info("%v: %s", pctx.Location, msg)
	return nil
}

// preparedQuery prepares the query on first use with the first check's metrics and
// transaction, then hands every later check the same prepared query.
func (s *server) preparedQuery(m metrics.Metrics, txn storage.Transaction) (*rego.PreparedEvalQuery, error) {
	s.prepareOnce.Do(func() {
		pq, err := rego.New(
			rego.Metrics(m),
			rego.ParsedQuery(s.parsedQuery),
			rego.Compiler(s.compiler),
			rego.Store(s.store),
			rego.Transaction(txn),
			rego.Runtime(s.runtime),
			rego.EnablePrintStatements(true),
		).PrepareForEval(context.Background())
		s.prepared, s.prepareErr = &pq, err
	})
	return s.prepared, s.prepareErr
}

func (s *server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	m := metrics.New()
	decisionID := uuid.NewString()
	m.Timer(metrics.ServerHandler).Start()
	defer func() { _ = m.Timer(metrics.ServerHandler).Stop() }()

	txn, err := s.store.NewTransaction(ctx, storage.TransactionParams{})
	if err != nil {
		return nil, err
	}
	defer s.store.Abort(ctx, txn)
	logger := s.logger.WithFields(map[string]any{"decision-id": decisionID})

	input, err := requestToInput(req)
	if err != nil {
		// The plugin answers an unparsable request with a 400 denial, not an error.
		return &authv3.CheckResponse{
			Status: &rpcstatus.Status{Code: int32(codes.PermissionDenied), Message: err.Error()},
			HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
				Status: &typev3.HttpStatus{Code: typev3.StatusCode_BadRequest},
				Body:   err.Error(),
			}},
		}, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("check request timed out before query execution: %w", err)
	}
	value, err := ast.InterfaceToValue(input)
	if err != nil {
		return nil, err
	}
	pq, err := s.preparedQuery(m, txn)
	if err != nil {
		return nil, err
	}
	// The plugin passes an ND-builtin cache only when decision logs ask for one (off here).
	var ndb builtins.NDBCache
	rs, err := pq.Eval(ctx,
		rego.EvalParsedInput(value),
		rego.EvalTransaction(txn),
		rego.EvalMetrics(m),
		rego.EvalInterQueryBuiltinCache(s.iqCache),
		rego.EvalPrintHook(&printHook{logger: logger}),
		rego.EvalNDBuiltinCache(ndb),
	)
	switch {
	case err != nil:
		return nil, err
	case len(rs) == 0:
		return nil, errors.New("undefined decision")
	case len(rs) > 1:
		return nil, errors.New("multiple evaluation results")
	}
	resp, err := response(rs[0].Expressions[0].Value)
	if err != nil {
		return nil, err
	}
	resp.DynamicMetadata = &structpb.Struct{Fields: map[string]*structpb.Value{
		"decision_id": structpb.NewStringValue(decisionID),
	}}
	return resp, nil
}

// response turns a decision (a boolean, or an object with "allowed" and optional
// headers, body and http_status) into a CheckResponse.
func response(decision any) (*authv3.CheckResponse, error) {
	allowed := false
	var obj map[string]any
	switch d := decision.(type) {
	case bool:
		allowed = d
	case map[string]any:
		a, ok := d["allowed"].(bool)
		if !ok {
			return nil, errors.New(`decision object without a boolean "allowed"`)
		}
		allowed, obj = a, d
	default:
		return nil, fmt.Errorf("illegal value for policy evaluation result: %T", decision)
	}
	var headers []*corev3.HeaderValueOption
	if raw, ok := obj["headers"].(map[string]any); ok {
		for k, v := range raw {
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("header %q is not a string", k)
			}
			headers = append(headers, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: k, Value: s}})
		}
	}
	if allowed {
		return &authv3.CheckResponse{
			Status:       &rpcstatus.Status{Code: int32(codes.OK)},
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{Headers: headers}},
		}, nil
	}
	status := typev3.StatusCode_Forbidden
	if n, ok := obj["http_status"].(interface{ Int64() (int64, error) }); ok {
		code, err := n.Int64()
		if _, known := typev3.StatusCode_name[int32(code)]; err != nil || !known {
			return nil, fmt.Errorf("invalid HTTP status code %v", obj["http_status"])
		}
		status = typev3.StatusCode(code)
	}
	body, _ := obj["body"].(string)
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(codes.PermissionDenied)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status: &typev3.HttpStatus{Code: status}, Headers: headers, Body: body,
		}},
	}, nil
}

// requestToInput builds the input document the plugin documents for ext_authz v3.
func requestToInput(req *authv3.CheckRequest) (map[string]any, error) {
	bs, err := protojson.Marshal(req)
	if err != nil {
		return nil, err
	}
	var input map[string]any
	if err := util.UnmarshalJSON(bs, &input); err != nil {
		return nil, err
	}
	input["version"] = v3Version
	httpReq := req.GetAttributes().GetRequest().GetHttp()
	u, err := url.Parse(httpReq.GetPath())
	if err != nil {
		return nil, err
	}
	segments := strings.Split(strings.TrimLeft(u.Path, "/"), "/")
	parsedPath := make([]any, len(segments))
	for i, s := range segments {
		parsedPath[i] = s
	}
	input["parsed_path"] = parsedPath
	parsedQuery := map[string]any{}
	for k, vs := range u.Query() {
		list := make([]any, len(vs))
		for i, v := range vs {
			list[i] = v
		}
		parsedQuery[k] = list
	}
	input["parsed_query"] = parsedQuery
	parsedBody, truncated, err := parseBody(httpReq.GetHeaders(), httpReq.GetBody())
	if err != nil {
		return nil, err
	}
	input["parsed_body"] = parsedBody
	input["truncated_body"] = truncated
	return input, nil
}

// parseBody parses a JSON body; a body shorter than its content-length was truncated
// by Envoy (with_request_body.max_request_bytes) and is not parsed.
func parseBody(headers map[string]string, body string) (any, bool, error) {
	if !strings.Contains(headers["content-type"], "application/json") || body == "" {
		return nil, false, nil
	}
	if cl, ok := headers["content-length"]; ok {
		n, err := strconv.ParseInt(cl, 10, 64)
		if err != nil {
			return nil, false, err
		}
		if n != -1 && n > int64(len(body)) {
			return nil, true, nil
		}
	}
	var data any
	if err := util.Unmarshal([]byte(body), &data); err != nil {
		return nil, false, err
	}
	return data, false, nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9291", "gRPC listen address")
	path := flag.String("path", "envoy/authz/allow", "decision path under data")
	flag.Parse()
	if flag.NArg() == 0 {
		log.Fatal("usage: opa-ext-authz [-addr host:port] [-path p] <policy dir or file>...")
	}
	loaded, err := loader.All(flag.Args())
	if err != nil {
		log.Fatalf("load: %v", err)
	}
	// As OPA's runtime sets its store up: no round trip of written values.
	store := inmem.NewFromObjectWithOpts(loaded.Documents, inmem.OptRoundTripOnWrite(false))
	// Print statements are compiled in only at log level info or above; the bench runs
	// the real plugin at level error.
	compiler := ast.NewCompiler().WithEnablePrintStatements(false)
	if compiler.Compile(loaded.ParsedModules()); compiler.Failed() {
		log.Fatalf("compile: %v", compiler.Errors)
	}
	ref := ast.Ref{ast.DefaultRootDocument}
	for _, seg := range strings.Split(*path, "/") {
		if seg != "" {
			ref = append(ref, ast.StringTerm(seg))
		}
	}
	parsedQuery, err := ast.ParseBody(ref.String())
	if err != nil {
		log.Fatalf("query: %v", err)
	}
	cacheConfig, err := iCache.ParseCachingConfig(nil)
	if err != nil {
		log.Fatalf("cache config: %v", err)
	}
	logger := logging.New()
	logger.SetLevel(logging.Error)
	srv := grpc.NewServer(
		grpc.MaxRecvMsgSize(4*1024*1024),
		grpc.MaxSendMsgSize(math.MaxInt32),
	)
	authv3.RegisterAuthorizationServer(srv, &server{
		store:       store,
		compiler:    compiler,
		parsedQuery: parsedQuery,
		runtime:     ast.NewTerm(ast.NewObject()),
		logger:      logger,
		iqCache:     iCache.NewInterQueryCacheWithContext(context.Background(), cacheConfig),
	})
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	fmt.Fprintf(os.Stderr, "opa-ext-authz: listening on %s\n", lis.Addr())
	if err := srv.Serve(lis); err != nil {
		log.Fatal(err)
	}
}
