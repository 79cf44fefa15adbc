package api

import "html/template"

// pageTmpl renders pageData (page.go, page_sessions.go).
var pageTmpl = template.Must(template.New("status").Funcs(pageFuncs).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="5">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>aisedge status</title>
<style>
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
header{display:flex;justify-content:space-between;align-items:baseline;padding:.8em 1.5em;background:#1d2330;color:#fff}
header h1{margin:0;font-size:1.3em}header span{opacity:.8}
main{padding:1em 1.5em;max-width:1400px}
.banner{padding:.8em 1.2em;border-radius:6px;margin-bottom:1em;border-left:8px solid}
.banner h2{margin:0;font-size:1.2em}.banner ul{margin:.4em 0 0;padding-left:1.2em}
.ok{background:#e3f6e8;border-color:#1f8f3a}.warn{background:#fff4d6;border-color:#d08a00}.bad{background:#fde2e1;border-color:#c62828}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:.6em;margin-bottom:1em}
.card{background:#fff;border-radius:6px;padding:.6em .8em;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.card b{display:block;font-size:1.8em;font-variant-numeric:tabular-nums}.card.hot b{color:#c62828}
.card span{color:#5a6272;font-size:.9em}
section{background:#fff;border-radius:6px;padding:.6em 1em 1em;margin-bottom:1em;box-shadow:0 1px 2px rgba(0,0,0,.08)}
h2{font-size:1.1em}h3{font-size:1em;margin:.9em 0 .3em}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:.25em .6em;border-bottom:1px solid #e6e8ec;vertical-align:top;overflow-wrap:break-word}
th,td.n{white-space:nowrap}td.wrap{overflow-wrap:anywhere}
th{color:#5a6272;font-weight:600;font-size:.9em}.n{text-align:right}
tr.held td{background:#fde2e1}
tr.sess td{border-top:2px solid #c9ced6;font-weight:600}tr.scan td{font-size:.92em;color:#3b4252}tr.scan td:first-child{padding-left:1.8em}
.muted{color:#7a8190}.err{color:#c62828}code{font-size:.95em}
.pill{display:inline-block;padding:0 .5em;border-radius:9px;background:#e6e8ec;margin-right:.3em}
pre{background:#f5f6f8;padding:.6em;overflow:auto}
</style></head>
<body>
<header><h1>aisedge</h1><span>{{ts .Now}} · refreshes every 5 s · <a style="color:#fff" href="/api/status">JSON</a> · <a style="color:#fff" href="/metrics">metrics</a></span></header>
<main>
<div class="banner {{.Banner.Class}}" id="health"><h2>{{.Banner.Title}}</h2>
{{- if .Banner.Items}}<ul>{{range .Banner.Items}}<li>{{.}}</li>{{end}}</ul>{{end}}</div>
{{- if .Checks}}
<p id="checks">{{range .Checks}}<span class="pill{{if not .OK}} err{{end}}">{{.Name}}: {{if .OK}}reachable{{else}}unreachable{{end}}</span>{{end}}</p>
{{- end}}
{{- if .Cards}}
<div class="cards">{{range .Cards}}<div class="card{{if .Warn}} hot{{end}}"><b>{{.Value}}</b><span>{{.Label}}</span></div>{{end}}</div>
{{- end}}
{{- $now := .Now}}
{{- with .Sessions}}{{if .EdgeKnown}}
<section id="sessions-in-progress">
<h2>Sessions in progress ({{.InFlightTotal}})</h2>
{{- if .InFlight}}
<table><tr><th>Session</th><th class="n">Received</th><th class="n">Staged</th><th class="n">Uploaded</th><th class="n">Delivered</th><th>State</th><th>First received</th><th class="n">Last received</th></tr>
{{- range .InFlight}}<tr{{if .Held}} class="held"{{end}}><td><code>{{.Session}}</code></td><td class="n">{{.Received}}</td><td class="n">{{.Staged}}</td><td class="n">{{.Uploaded}}</td><td class="n">{{if $.Sessions.HubKnown}}{{.Delivered}}{{else}}–{{end}}</td><td>{{.State}}</td><td>{{ts .FirstReceived}}</td><td class="n">{{since $now .LastReceived}} ago</td></tr>{{end}}
</table>{{if gt .InFlightTotal (len .InFlight)}}<p class="muted">and {{more .InFlightTotal (len .InFlight)}} more</p>{{end}}
<p class="muted">Instances by how far they got; each count includes the next.{{if not .HubKnown}} Delivery is reported by the hub.{{end}}</p>
{{- else}}<p class="muted">No session in progress.</p>{{end}}
</section>
{{- end}}{{if or .HubKnown .EdgeKnown}}
<section id="sessions-done">
<h2>{{if .HubKnown}}Delivered sessions{{else}}Sealed in the bucket{{end}} ({{.DoneTotal}}{{if gt .DoneTotal (len .Done)}}, latest {{len .Done}} shown{{end}})</h2>
{{- if .Done}}
<table><tr><th>Session / scan</th><th class="n">Gen.</th><th class="n">Instances</th><th class="n">Size</th><th>First received</th><th class="n">Receiving</th><th class="n">To staging</th><th class="n">Upload</th><th class="n">Delivery</th><th class="n">Total</th><th>{{if .HubKnown}}Delivered{{else}}Sealed{{end}}</th></tr>
{{- range .Done}}
<tr class="sess"><td><code>{{.Session}}</code></td><td class="n">{{.Generation}}</td><td class="n">{{.Instances}}</td><td class="n">{{bytes .Bytes}}</td><td>{{ts .FirstReceived}}</td><td class="n">{{span .FirstReceived .LastReceived}}</td><td class="n">{{span .LastReceived .StagedAt}}</td><td class="n">{{span .StagedAt .SealedAt}}</td><td class="n">{{span .StartedAt .DeliveredAt}}</td><td class="n">{{if .Total}}{{dur .Total}}{{else}}–{{end}}</td><td>{{if .DeliveredAt.IsZero}}{{ts .SealedAt}}{{else}}{{ts .DeliveredAt}}{{end}}</td></tr>
{{- range .Series}}<tr class="scan"><td>{{.Scan}}{{if .Modality}} <span class="muted">{{.Modality}}</span>{{end}}</td><td></td><td class="n">{{.Instances}}</td><td class="n">{{bytes .Bytes}}</td><td>{{ts .FirstReceived}}</td><td class="n">{{span .FirstReceived .LastReceived}}</td><td colspan="5"></td></tr>{{end}}
{{- end}}
</table>
<p class="muted">Receiving: first to last instance; to staging: the quiet period; upload: staged to sealed in the bucket; delivery: the hub's transfer and verification; total: first instance received to {{if .HubKnown}}delivered{{else}}sealed{{end}}.{{if not .EdgeKnown}} Receive times are known to the edge.{{end}}</p>
{{- else}}<p class="muted">{{if .HubKnown}}No session delivered yet.{{else}}No session sealed yet.{{end}}</p>{{end}}
</section>
{{- end}}{{end}}
{{- range .Edges}}
<section id="edge-{{.Part}}">
<h2>Edge {{.Edge}}{{if .Listen}} <span class="muted">· DICOM on {{.Listen}}</span>{{end}}</h2>
<p class="muted">Last successful upload: {{if .LastUpload.IsZero}}none yet{{else}}{{ts .LastUpload}} ({{since $now .LastUpload}} ago){{end}}
{{- if .LastError}} · <span class="err">last error: {{.LastError}}</span>{{end}}
{{- with .Received}} · associations {{.AssociationsAccepted}} accepted, {{.AssociationsRejected}} rejected, {{.AssociationsAborted}} aborted · {{.Echoes}} echoes · {{bytes .BytesReceived}} received{{end}}</p>
<h3>Open studies ({{.OpenTotal}}, {{.Pending}} instances pending)</h3>
{{- if .Open}}
<table><tr><th>Session</th><th class="n">Pending</th><th class="n">Age</th><th class="n">Idle</th></tr>
{{- range .Open}}<tr><td><code>{{.Session}}</code></td><td class="n">{{.Pending}}</td><td class="n">{{dur .Age.Duration}}</td><td class="n">{{dur .Idle.Duration}}</td></tr>{{end}}
</table>{{if gt .OpenTotal (len .Open)}}<p class="muted">and {{more .OpenTotal (len .Open)}} more</p>{{end}}
{{- else}}<p class="muted">No study waiting for completion.</p>{{end}}
<h3>Shipment queue ({{.QueuedTotal}})</h3>
<p>{{range .Stages}}<span class="pill">{{.Stage}}: {{.N}}</span>{{end}}{{if .Held}}<span class="pill err">held: {{.Held}}</span>{{end}}</p>
{{- if .Queued}}
<table><tr><th>Session</th><th class="n">Gen.</th><th>Stage</th><th class="n">Queued for</th><th class="n">Attempts</th><th>Last error</th></tr>
{{- range .Queued}}<tr{{if .Held}} class="held"{{end}}><td><code>{{.Name}}</code></td><td class="n">{{.Generation}}</td><td>{{.State}}{{if .Held}} <b class="err">HELD</b>{{end}}</td><td class="n">{{since $now .StagedAt}}</td><td class="n">{{.Attempts}}</td><td class="wrap">{{.LastError}}</td></tr>{{end}}
</table>{{if gt .QueuedTotal (len .Queued)}}<p class="muted">and {{more .QueuedTotal (len .Queued)}} more</p>{{end}}
{{- else}}<p class="muted">Nothing queued for upload.</p>{{end}}
<h3>Quarantine ({{.QuarantineTotal}})</h3>
{{- if .Quarantine}}
<table><tr><th>Entry</th><th>Received</th><th>Calling AET</th><th>Called AET</th><th>Reasons</th><th class="n">Requeues</th><th>Resolve</th></tr>
{{- range .Quarantine}}<tr><td><code>{{.ID}}</code></td><td>{{ts .ReceivedAt}}</td><td>{{.CallingAET}}</td><td>{{.CalledAET}}</td><td>{{range $i, $r := .Reasons}}{{if $i}}<br>{{end}}{{$r}}{{end}}</td><td class="n">{{.Requeues}}</td>
<td>{{if $.Actions}}<a href="/confirm/quarantine-requeue/{{.ID}}">requeue</a> · <a href="/confirm/quarantine-release/{{.ID}}">release</a> · <a href="/confirm/quarantine-discard/{{.ID}}">discard</a>{{else}}<code class="muted">aisedge quarantine requeue|release|discard {{.ID}}</code>{{end}}</td></tr>{{end}}
</table>{{if gt .QuarantineTotal (len .Quarantine)}}<p class="muted">and {{more .QuarantineTotal (len .Quarantine)}} more</p>{{end}}
{{- else}}<p class="muted">Quarantine is empty.</p>{{end}}
</section>
{{- end}}
{{- range .Hubs}}
<section id="hub-{{.Part}}">
<h2>Hub <span class="muted">· delivering to {{.Destination}}</span></h2>
{{- with .Paused}}
<p class="held">Delivery paused since {{ts .Since}} ({{.Attempts}} tries to resume): <span class="wrap">{{.Reason}}</span></p>
{{- end}}
<h3>Dead letters ({{.DeadTotal}})</h3>
{{- if .DeadLetters}}
<table><tr><th>Session</th><th class="n">Gen.</th><th>Since</th><th>Reason</th></tr>
{{- range .DeadLetters}}<tr class="held"><td><code>{{.Base}}</code></td><td class="n">{{.Generation}}</td><td>{{ts .At}}</td><td class="wrap">{{.Reason}}{{if $.Actions}} · <a href="/confirm/deadletter-requeue/{{.Base}}%23{{.Generation}}">requeue</a>{{end}}</td></tr>{{end}}
</table>{{if gt .DeadTotal (len .DeadLetters)}}<p class="muted">and {{more .DeadTotal (len .DeadLetters)}} more</p>{{end}}
{{- else}}<p class="muted">No dead letters.</p>{{end}}
<h3>Pending delivery ({{.PendingTotal}})</h3>
{{- if .Pending}}
<table><tr><th>Session</th><th class="n">Gen.</th></tr>
{{- range .Pending}}<tr><td><code>{{.Base}}</code></td><td class="n">{{.Generation}}</td></tr>{{end}}
</table>{{if gt .PendingTotal (len .Pending)}}<p class="muted">and {{more .PendingTotal (len .Pending)}} more</p>{{end}}
{{- else}}<p class="muted">Nothing waiting in the bucket.</p>{{end}}
</section>
{{- end}}
{{- range .Other}}
<section><h2>{{.Name}}</h2><pre>{{.JSON}}</pre></section>
{{- end}}
{{- if .Counters}}
<section id="counters"><h2>Counters</h2>
<table><tr><th>Metric</th><th>Labels</th><th class="n">Value</th></tr>
{{- range .Counters}}<tr><td><code>{{.Name}}</code></td><td class="muted">{{.Labels}}</td><td class="n">{{.Value}}</td></tr>{{end}}
</table></section>
{{- end}}
</main></body></html>
`))
