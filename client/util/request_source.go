// Package util holds the small request-scoped settings the client reads from
// a context.Context and the accounting it writes back: the request source
// (where a request comes from, for TiKV's per-source accounting and flow
// control), the resource group a request is charged to, its resource group
// tag, and the RU details of a statement. It mirrors the parts of
// client-go's util package that carry them (util/request_source.go,
// util/execdetails.go).
//
// A setting bound to a context reaches TiKV for every request the client
// sends with that context, raw KV and transactional alike: the request
// sender copies it into the request's kvrpcpb.Context before each send,
// unless the request already carries its own value (a per-request setting
// wins over the context's).
package util

import (
	"context"
	"strings"

	"github.com/tikvsim/tikvsim/client/tikvrpc"
)

// RequestSourceKeyType is the type of RequestSourceKey.
type RequestSourceKeyType struct{}

// RequestSourceKey is the context key of a RequestSource value (not a
// pointer), as in client-go: context.WithValue(ctx, RequestSourceKey, rs)
// is what WithInternalSourceType does.
var RequestSourceKey = RequestSourceKeyType{}

// Internal request source types (client-go util/request_source.go).
const (
	// InternalTxnOthers is the type of internal requests that consume few
	// resources. Requests whose source contains "internal_others" bypass
	// resource control.
	InternalTxnOthers = "others"
	// InternalTxnGC is the type of GC requests.
	InternalTxnGC = "gc"
	// InternalTxnMeta is the type of miscellaneous metadata requests.
	InternalTxnMeta = InternalTxnOthers
	// InternalTxnStats is the type of statistics requests.
	InternalTxnStats = "stats"
)

// Explicit request source types: set by the application to say how a
// request was initiated.
const (
	ExplicitTypeEmpty      = ""
	ExplicitTypeLightning  = "lightning"
	ExplicitTypeBR         = "br"
	ExplicitTypeDumpling   = "dumpling"
	ExplicitTypeBackground = "background"
	ExplicitTypeDDL        = "ddl"
	ExplicitTypeStats      = "stats"
	ExplicitTypeImport     = "import"
)

// ExplicitTypeList returns every explicit source type, the empty one first.
func ExplicitTypeList() []string {
	return []string{ExplicitTypeEmpty, ExplicitTypeLightning, ExplicitTypeBR, ExplicitTypeDumpling,
		ExplicitTypeBackground, ExplicitTypeDDL, ExplicitTypeStats, ExplicitTypeImport}
}

// Request source scopes and the unknown source.
const (
	// InternalRequest is the scope of internal requests.
	InternalRequest = "internal"
	// InternalRequestPrefix prefixes the source of internal requests.
	InternalRequestPrefix = "internal_"
	// ExternalRequest is the scope of external (user) requests.
	ExternalRequest = "external"
	// SourceUnknown is the source of a request nobody labelled.
	SourceUnknown = "unknown"
)

// RequestSource labels where requests come from: internal or external, a
// type, and an optional explicit type. Its wire form (GetRequestSource) is
// "scope_type[_explicit]", e.g. "external_Select" or "internal_gc_br".
type RequestSource struct {
	// RequestSourceInternal says the requests are the system's own.
	RequestSourceInternal bool
	// RequestSourceType is the kind of work ("gc", "stats", a statement
	// type, ...).
	RequestSourceType string
	// ExplicitRequestSourceType is the application's own label ("br",
	// "lightning", ...), a complement to RequestSourceType.
	ExplicitRequestSourceType string
}

// SetRequestSourceInternal sets the scope.
func (r *RequestSource) SetRequestSourceInternal(internal bool) { r.RequestSourceInternal = internal }

// SetRequestSourceType sets the type.
func (r *RequestSource) SetRequestSourceType(tp string) { r.RequestSourceType = tp }

// SetExplicitRequestSourceType sets the explicit type.
func (r *RequestSource) SetExplicitRequestSourceType(tp string) { r.ExplicitRequestSourceType = tp }

// GetRequestSource returns the wire form: SourceUnknown when neither type
// is set (nil included), else scope, type (SourceUnknown if only the explicit
// type is set) and the explicit type when it differs from the type, joined
// by '_'.
func (r *RequestSource) GetRequestSource() string {
	if r == nil || (r.RequestSourceType == "" && r.ExplicitRequestSourceType == "") {
		return SourceUnknown
	}
	origin := ExternalRequest
	if r.RequestSourceInternal {
		origin = InternalRequest
	}
	source := SourceUnknown
	if r.RequestSourceType != "" {
		source = r.RequestSourceType
	}
	var b strings.Builder
	b.WriteString(origin)
	b.WriteByte('_')
	b.WriteString(source)
	if r.ExplicitRequestSourceType != "" && r.ExplicitRequestSourceType != r.RequestSourceType {
		b.WriteByte('_')
		b.WriteString(r.ExplicitRequestSourceType)
	}
	return b.String()
}

// WithInternalSourceType returns a copy of ctx whose requests are internal
// ones of type source.
func WithInternalSourceType(ctx context.Context, source string) context.Context {
	return context.WithValue(ctx, RequestSourceKey, RequestSource{RequestSourceInternal: true, RequestSourceType: source})
}

// WithInternalSourceAndTaskType is WithInternalSourceType with an explicit
// type naming the task.
func WithInternalSourceAndTaskType(ctx context.Context, source, taskName string) context.Context {
	return context.WithValue(ctx, RequestSourceKey, RequestSource{
		RequestSourceInternal: true, RequestSourceType: source, ExplicitRequestSourceType: taskName,
	})
}

// WithRequestSource returns a copy of ctx whose requests carry rs. It is
// context.WithValue(ctx, RequestSourceKey, rs).
func WithRequestSource(ctx context.Context, rs RequestSource) context.Context {
	return context.WithValue(ctx, RequestSourceKey, rs)
}

// BuildRequestSource returns the wire form of a request source.
func BuildRequestSource(internal bool, source, explicitSource string) string {
	rs := RequestSource{RequestSourceInternal: internal, RequestSourceType: source, ExplicitRequestSourceType: explicitSource}
	return rs.GetRequestSource()
}

// RequestSourceFromCtx returns the wire form of the request source bound to
// ctx, SourceUnknown if none is.
func RequestSourceFromCtx(ctx context.Context) string {
	if rs, ok := ctx.Value(RequestSourceKey).(RequestSource); ok {
		return rs.GetRequestSource()
	}
	return SourceUnknown
}

// IsInternalRequest reports whether a wire-form source is internal.
func IsInternalRequest(source string) bool { return strings.HasPrefix(source, InternalRequest) }

// IsRequestSourceInternal reports whether rs is non-nil and internal.
func IsRequestSourceInternal(rs *RequestSource) bool {
	return rs != nil && IsInternalRequest(rs.GetRequestSource())
}

type resourceGroupNameKey struct{}

// WithResourceGroupName returns a copy of ctx whose requests are charged to
// resource group name (kvrpcpb.Context.ResourceControlContext).
func WithResourceGroupName(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, resourceGroupNameKey{}, name)
}

// ResourceGroupNameFromCtx returns the resource group bound to ctx, "" if
// none.
func ResourceGroupNameFromCtx(ctx context.Context) string {
	name, _ := ctx.Value(resourceGroupNameKey{}).(string)
	return name
}

type resourceGroupTagKey struct{}

// WithResourceGroupTag returns a copy of ctx whose requests carry tag as
// their kvrpcpb.Context.ResourceGroupTag (TiKV's Top SQL attribution and
// the deadlock detector's wait-chain tags). The tag is not copied; it must
// not be modified afterwards. client-go sets it per transaction
// (KVTxn.SetResourceGroupTag).
func WithResourceGroupTag(ctx context.Context, tag []byte) context.Context {
	return context.WithValue(ctx, resourceGroupTagKey{}, tag)
}

// ResourceGroupTagFromCtx returns the tag bound to ctx, nil if none.
func ResourceGroupTagFromCtx(ctx context.Context) []byte {
	tag, _ := ctx.Value(resourceGroupTagKey{}).([]byte)
	return tag
}

type resourceGroupTaggerKey struct{}

// WithResourceGroupTagger returns a copy of ctx whose requests are tagged by
// tagger when they carry no tag, neither their own nor one bound with
// WithResourceGroupTag (a tag wins over a tagger, as in client-go). The
// tagger runs once per request, on the sending task, before the first send.
func WithResourceGroupTagger(ctx context.Context, tagger tikvrpc.ResourceGroupTagger) context.Context {
	return context.WithValue(ctx, resourceGroupTaggerKey{}, tagger)
}

// ResourceGroupTaggerFromCtx returns the tagger bound to ctx, nil if none.
func ResourceGroupTaggerFromCtx(ctx context.Context) tikvrpc.ResourceGroupTagger {
	t, _ := ctx.Value(resourceGroupTaggerKey{}).(tikvrpc.ResourceGroupTagger)
	return t
}
