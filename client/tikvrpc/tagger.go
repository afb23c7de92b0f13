package tikvrpc

// ResourceGroupTagger fills the ResourceGroupTag of a request's context
// (client-go tikvrpc.ResourceGroupTagger). It is used when no tag is set
// explicitly; it may look at the request's command and body.
type ResourceGroupTagger func(req *Request)
