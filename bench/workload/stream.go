package workload

import (
	"math/rand/v2"
	"strings"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// BatchRecords is how many records an Event Hubs batch carries: the host's
// invocation of the activitylog function, split into message bodies of one to
// eight records each, as Azure Monitor packs them.
const BatchRecords = 100

// Item is one delivery: an Event Hubs batch (message bodies) or one Event Grid
// event, with when it arrives.
type Item struct {
	Source      guard.Source // eventhub or eventgrid
	Bodies      [][]byte     // eventhub: the batch's message bodies; eventgrid: one event
	Records     int          // records (eventhub) or events (eventgrid) in it
	Redelivered int          // of Records, how many were delivered before
	Now         time.Time    // when it arrives: the clock the pipeline and ARM run at
}

// Bytes is the size of the item's bodies.
func (it Item) Bytes() int {
	n := 0
	for _, b := range it.Bodies {
		n += len(b)
	}
	return n
}

type principal struct {
	upn, name, oid, appID string
}

type sentMessage struct {
	body    []byte
	records int
}

// Stream makes items one at a time. It is not safe for concurrent use.
type Stream struct {
	u         *Universe
	rng       *rand.Rand
	clock     time.Time
	people    []principal
	kindCum   []float64
	alPending [][]byte
	egPending []Item
	ring      []sentMessage // recent messages, for redelivery
	ringNext  int
	egSubs    map[string]int // subscription -> 1 Event Grid schema, 2 CloudEvents
}

// Stream returns a stream of items over the universe, deterministic for a seed.
func (u *Universe) Stream(seed uint64) *Stream {
	s := &Stream{u: u, rng: rand.New(rand.NewPCG(seed, 0xfeed)), clock: Start, egSubs: map[string]int{}}
	for i := range 40 {
		n := words[i%len(words)]
		s.people = append(s.people, principal{upn: n + "." + string(rune('a'+i%26)) + "@contoso.com", name: strings.ToUpper(n[:1]) + n[1:] + " User", oid: uuid(s.rng)})
	}
	for range 15 {
		s.people = append(s.people, principal{appID: uuid(s.rng), oid: uuid(s.rng)})
	}
	sum := 0.0
	for _, k := range Kinds {
		sum += k.OpShare
		s.kindCum = append(s.kindCum, sum)
	}
	for i := 0; i < Mix.EventGridSubs && i < len(u.Subs); i++ {
		s.egSubs[u.Subs[i]] = 1 + i%2
	}
	s.ring = make([]sentMessage, 0, 256)
	return s
}

// Next returns the next item.
func (s *Stream) Next() Item {
	if len(s.egPending) > 0 {
		it := s.egPending[0]
		s.egPending = s.egPending[1:]
		if len(s.egPending) == 0 {
			s.egPending = nil
		}
		return it
	}
	it := Item{Source: guard.SourceEventHub}
	for it.Records < BatchRecords {
		left := BatchRecords - it.Records
		if len(s.ring) > 0 && s.rng.Float64() < Mix.RedeliverEH {
			m := s.ring[s.rng.IntN(len(s.ring))]
			if m.records <= left {
				it.Bodies = append(it.Bodies, m.body)
				it.Records += m.records
				it.Redelivered += m.records
				continue
			}
		}
		n := min(1+s.rng.IntN(8), left)
		for len(s.alPending) < n {
			s.operation()
		}
		body := make(w, 0, 2600*n)
		body = body.raw(`{"records":[`)
		for i, r := range s.alPending[:n] {
			if i > 0 {
				body = append(body, ',')
			}
			body = append(body, r...)
		}
		body = body.raw("]}")
		s.alPending = s.alPending[n:]
		it.Bodies = append(it.Bodies, body)
		it.Records += n
		m := sentMessage{body, n}
		if len(s.ring) < cap(s.ring) {
			s.ring = append(s.ring, m)
		} else {
			s.ring[s.ringNext] = m
			s.ringNext = (s.ringNext + 1) % len(s.ring)
		}
	}
	// Activity Log reaches Event Hubs a few minutes after the operation.
	it.Now = s.clock.Add(3 * time.Minute)
	return it
}

// operation makes one operation: its Start and end records, and its Event Grid
// event when the subscription has a system topic.
func (s *Stream) operation() {
	s.clock = s.clock.Add(time.Duration(s.rng.ExpFloat64() * float64(40*time.Millisecond)))
	x := s.rng.Float64() * s.kindCum[len(s.kindCum)-1]
	ki := 0
	for ki < len(s.kindCum)-1 && x >= s.kindCum[ki] {
		ki++
	}
	k := Kinds[ki]
	list := s.u.byKind[k]
	if len(list) == 0 {
		return
	}
	u := s.rng.Float64()
	r := list[int(float64(len(list))*u*u)] // a few resources change much more often than most
	oc := k.ops[0]
	y := s.rng.Float64()
	for _, o := range k.ops {
		if y < o.share {
			oc = o
			break
		}
		y -= o.share
	}
	id := r.ID
	if oc.child != "" {
		id += "/" + oc.child + "c" + words[s.rng.IntN(len(words))]
	}
	op := opInfo{
		id: id, sub: r.Sub, rg: r.RG, operation: k.Type + oc.suffix,
		start: s.clock, dur: time.Duration(200+s.rng.IntN(4000)) * time.Millisecond,
		ok: s.rng.Float64() >= Mix.Failed, corr: uuid(s.rng), who: s.people[s.rng.IntN(len(s.people))],
		reqID: uuid(s.rng), ip: "198.51.100." + itoa(1+s.rng.IntN(250)), tenant: s.u.Tenant,
	}
	s.alPending = append(s.alPending, alRecord(op, true), alRecord(op, false))
	if schema := s.egSubs[r.Sub]; schema != 0 {
		ev := egEvent(op, schema == 2, uuid(s.rng))
		now := op.start.Add(op.dur + 2*time.Second) // Event Grid is quick
		s.egPending = append(s.egPending, Item{Source: guard.SourceEventGrid, Bodies: [][]byte{ev}, Records: 1, Now: now})
		if s.rng.Float64() < Mix.RedeliverEG {
			s.egPending = append(s.egPending, Item{Source: guard.SourceEventGrid, Bodies: [][]byte{ev}, Records: 1, Redelivered: 1, Now: now.Add(30 * time.Second)})
		}
	}
}

type opInfo struct {
	id, sub, rg, operation string
	start                  time.Time
	dur                    time.Duration
	ok                     bool
	corr, reqID, ip        string
	tenant                 string
	who                    principal
}

func (op opInfo) verb() string {
	switch {
	case strings.HasSuffix(op.operation, "/write"):
		return "Write"
	case strings.HasSuffix(op.operation, "/delete"):
		return "Delete"
	}
	return "Action"
}

func claims(b w, op opInfo, aud string) w {
	b = b.raw(`{`)
	b = b.kv("aud", aud, true)
	b = b.kv("iss", "https://sts.windows.net/"+op.tenant+"/", false)
	b = b.kv("iat", "1762074000", false).kv("nbf", "1762074000", false).kv("exp", "1762077900", false).kv("ver", "1.0", false)
	b = b.kv("http://schemas.microsoft.com/identity/claims/tenantid", op.tenant, false)
	b = b.kv("http://schemas.microsoft.com/identity/claims/objectidentifier", op.who.oid, false)
	if op.who.upn != "" {
		b = b.kv("http://schemas.microsoft.com/claims/authnmethodsreferences", "pwd,mfa", false)
		b = b.kv("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", op.who.upn, false)
		b = b.kv("name", op.who.name, false)
		b = b.kv("appid", "c44b4083-3bb0-49c1-b47d-974e53cbdf3c", false).kv("appidacr", "2", false)
		b = b.kv("http://schemas.microsoft.com/identity/claims/scope", "user_impersonation", false)
	} else {
		b = b.kv("appid", op.who.appID, false).kv("appidacr", "2", false)
		b = b.kv("idtyp", "app", false)
	}
	return b.raw(`}`)
}

// alRecord writes one Activity Log record in the diagnostic-settings schema,
// which spells resourceId and operationName in capitals.
func alRecord(op opInfo, start bool) []byte {
	b := make(w, 0, 2600)
	t, result, sig, durMs := op.start, "Start", "Started.", int64(0)
	if !start {
		t, durMs = op.start.Add(op.dur), op.dur.Milliseconds()
		result, sig = "Success", "Succeeded.OK"
		if !op.ok {
			result, sig = "Failure", "Failed.Conflict"
		}
	}
	b = b.raw("{")
	b = b.kv("time", rfc3339(t), true)
	b = b.kv("resourceId", strings.ToUpper(op.id), false)
	b = b.kv("operationName", strings.ToUpper(op.operation), false)
	b = b.kv("category", "Administrative", false)
	b = b.kv("resultType", result, false).kv("resultSignature", sig, false)
	b = b.kint("durationMs", durMs, false)
	b = b.kv("callerIpAddress", op.ip, false)
	b = b.kv("correlationId", op.corr, false)
	b = b.key("identity", false).raw(`{"authorization":{`)
	b = b.kv("scope", op.id, true).kv("action", op.operation, false)
	b = b.key("evidence", false).raw("{")
	b = b.kv("role", "Contributor", true).kv("roleAssignmentScope", "/subscriptions/"+op.sub, false)
	b = b.kv("roleAssignmentId", "9f2c6b1d8e4a4f3b8c7d6e5f4a3b2c1d", false).kv("roleDefinitionId", "b24988ac618042a0ab8820f7382dd24c", false)
	b = b.kv("principalId", strings.ReplaceAll(op.who.oid, "-", ""), false)
	if op.who.upn != "" {
		b = b.kv("principalType", "User", false)
	} else {
		b = b.kv("principalType", "ServicePrincipal", false)
	}
	b = b.raw("}},")
	b = b.key("claims", true)
	b = claims(b, op, "https://management.core.windows.net/")
	b = b.raw("}")
	b = b.kv("level", "Information", false).kv("location", "global", false)
	if !start {
		b = b.key("properties", false).raw("{")
		if op.ok {
			b = b.kv("statusCode", "OK", true).raw(`,"serviceRequestId":null`)
		} else {
			b = b.kv("statusCode", "Conflict", true).kv("serviceRequestId", op.reqID, false)
			b = b.kv("statusMessage", `{"error":{"code":"Conflict","message":"Another operation is in progress on the resource."}}`, false)
		}
		b = b.kv("eventCategory", "Administrative", false).kv("entity", op.id, false).kv("message", op.operation, false)
		b = b.kv("hierarchy", op.tenant+"/"+op.sub, false)
		b = b.raw("}")
	}
	return append(b, '}')
}

// egEvent writes the Microsoft.Resources event of an operation's end, in the
// Event Grid schema or in CloudEvents 1.0.
func egEvent(op opInfo, cloudEvents bool, id string) []byte {
	typ := "Microsoft.Resources.Resource" + op.verb() + "Success"
	status := "Succeeded"
	if !op.ok {
		typ = "Microsoft.Resources.Resource" + op.verb() + "Failure"
		status = "Failed"
	}
	t := rfc3339(op.start.Add(op.dur))
	b := make(w, 0, 2400)
	b = b.raw("{")
	if cloudEvents {
		b = b.kv("source", "/subscriptions/"+op.sub+"/resourceGroups/"+op.rg, true)
		b = b.kv("subject", op.id, false).kv("type", typ, false).kv("time", t, false).kv("id", id, false)
	} else {
		b = b.kv("subject", op.id, true).kv("eventType", typ, false).kv("eventTime", t, false).kv("id", id, false)
	}
	b = b.key("data", false).raw("{")
	b = b.key("authorization", true).raw("{")
	b = b.kv("scope", op.id, true).kv("action", op.operation, false)
	b = b.key("evidence", false).raw(`{"role":"Contributor"}},`)
	b = b.key("claims", true)
	b = claims(b, op, "https://management.core.windows.net/")
	b = b.kv("correlationId", op.corr, false)
	method := "PUT"
	if op.verb() == "Action" {
		method = "POST"
	}
	b = b.key("httpRequest", false).raw("{")
	b = b.kv("clientRequestId", op.reqID, true).kv("clientIpAddress", op.ip, false).kv("method", method, false)
	b = b.kv("url", "https://management.azure.com"+op.id+"?api-version=2024-01-01", false).raw("}")
	provider := op.operation[:strings.IndexByte(op.operation, '/')]
	b = b.kv("resourceProvider", provider, false).kv("resourceUri", op.id, false).kv("operationName", op.operation, false)
	b = b.kv("status", status, false).kv("subscriptionId", op.sub, false).kv("tenantId", op.tenant, false)
	b = b.raw("}")
	if cloudEvents {
		b = b.kv("specversion", "1.0", false)
	} else {
		b = b.kv("dataVersion", "2", false).kv("metadataVersion", "1", false).kv("topic", "/subscriptions/"+op.sub, false)
	}
	return append(b, '}')
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var d [20]byte
	i := len(d)
	for n > 0 {
		i--
		d[i] = byte('0' + n%10)
		n /= 10
	}
	return string(d[i:])
}
