#!/usr/bin/env python3
"""Writes crates/server/src/admin/openapi.json (the admin API description). Edit the
tables here, run it, and commit both; tests/admin_api.rs checks the document against the
router."""
import json
def ref(n): return {"$ref": f"#/components/schemas/{n}"}
def arr(x): return {"type":"array","items":x}
def obj(props, required=None, extra=False):
    o={"type":"object","properties":props}
    if required: o["required"]=required
    if not extra: o["additionalProperties"]=False
    return o
S=lambda **k: dict(k)
string={"type":"string"}; integer={"type":"integer"}; boolean={"type":"boolean"}; number={"type":"number"}
nint={"type":["integer","null"]}; nstr={"type":["string","null"]}
def jsonresp(schema, desc="OK"): return {"description":desc,"content":{"application/json":{"schema":schema}}}
err={"$ref":"#/components/responses/Error"}
def errors(*codes): return {str(c): err for c in codes}
idparam={"name":"id","in":"path","required":True,"schema":integer}
def body(schema): return {"required":True,"content":{"application/json":{"schema":schema}}}
def op(summary, responses, params=None, req=None, tags=None, security=True):
    o={"summary":summary,"responses":responses}
    if params: o["parameters"]=params
    if req: o["requestBody"]=req
    if tags: o["tags"]=tags
    if not security: o["security"]=[]
    return o
q=lambda name, schema, desc: {"name":name,"in":"query","required":False,"schema":schema,"description":desc}
rng=[q("from",integer,"Unix ms, inclusive (default: 24 hours before `to`)"), q("to",integer,"Unix ms, exclusive (default: now)")]
schemas={
 "Error": obj({"error": obj({"message":string,"type":string,"param":nstr,"code":nstr},["message","type"])},["error"]),
 "Account": obj({"id":integer,"name":string,"kind":{"enum":["api_key","email_password"]},"email":nstr,
   "secret_hint":{"type":"string","description":"A few characters of the secret; never the secret"},
   "weight":integer,"max_concurrent":nint,"enabled":boolean,"source":{"enum":["api","config"],"description":"`config` entries are read-only here"},
   "state":{"enum":["healthy","cooling_down","needs_attention","circuit_open","disabled"]},"reason":nstr,"retry_in_s":{"type":["number","null"]},
   "in_flight":integer,"model_blocks":arr(obj({"endpoint_id":string,"reason":string,"retry_in_s":number},["endpoint_id","reason","retry_in_s"])),
   "created_at":integer,"updated_at":integer}),
 "AccountInput": obj({"name":{"type":"string","description":"1–64 characters; fixed after creation (default: the email, or a fingerprint of the key)"},
   "kind":{"enum":["api_key","email_password"],"description":"Inferred from the fields when missing; fixed after creation"},
   "api_key":string,"email":string,"password":string,"weight":{"type":"integer","minimum":1,"maximum":1000},
   "max_concurrent":{"type":"integer","minimum":0,"maximum":100000,"description":"0 is unlimited"},"enabled":boolean}),
 "AccountTest": obj({"ok":boolean,"latency_ms":integer,"answer":string,"error":obj({"message":string,"status":nint,"code":nstr})}),
 "TokenLimits": obj({"expires_at":{"type":["integer","null"],"description":"Unix ms"},"quota_requests":{"type":["integer","null"],"minimum":1,"description":"Successful requests over the token's life"},
   "quota_tokens":{"type":["integer","null"],"minimum":1,"description":"Input plus output tokens over the token's life"},
   "models":{"type":["array","null"],"items":string,"description":"Allowed models as requested; null allows all"},
   "rpm":{"type":["integer","null"],"minimum":1,"description":"Requests per minute; null uses the setting rate_limit"}}, extra=True),
 "Token": {"allOf":[ref("TokenLimits"), obj({"id":integer,"name":string,"prefix":{"type":"string","description":"The secret's first characters"},"enabled":boolean,
   "source":{"enum":["api","config"]},"used_requests":integer,"used_tokens":integer,"last_used_at":nint,"created_at":integer,"updated_at":integer}, extra=True)]},
 "NewToken": {"allOf":[ref("Token"), obj({"secret":{"type":"string","description":"Shown this once; only its hash is kept"}},["secret"],extra=True)]},
 "TokenInput": {"allOf":[ref("TokenLimits"), obj({"name":{"type":"string","description":"Required at creation; fixed after"},"enabled":boolean},extra=True)],
   "description":"On an edit, missing fields keep their value and null removes a limit"},
 "Alias": obj({"alias":string,"endpoint_id":string,"source":{"enum":["builtin","custom"]},"overrides_builtin":boolean,
   "target_available":{"type":["boolean","null"],"description":"Whether the live catalogue lists the target as active; null while no catalogue is known"}}),
 "UpstreamProblem": {"type":["object","null"],"description":"A problem every account meets alike (the upstream's firewall, a wrong base URL)",
   "properties":{"kind":{"enum":["firewall","route"]},"message":string,"since_ms":integer,"last_ms":integer},"required":["kind","message","since_ms","last_ms"]},
 "Proxy": obj({"paused":boolean,"upstream_problem":ref("UpstreamProblem"),
   "session_cleanup":obj({"enabled":boolean,"stats":obj({"deleted":integer,"failed":integer,"dropped":integer})})},["paused"]),
 "Endpoint": obj({"id":string,"clean_id":nstr,"name":nstr,"model_id":nstr,"active":boolean,"available":{"type":"boolean","description":"Active and listed by some account now"},
   "premium":boolean,"reasoning_efforts":arr(string),"context_length":nint,"streaming":boolean,"last_seen_ms":integer,
   "accounts":{"type":"array","items":string,"description":"The accounts whose last good read lists it"}}),
 "Catalogue": obj({"known":{"type":"boolean","description":"Whether any read succeeded; without one the alias table is the catalogue"},
   "refresh_every_s":integer,
   "reads":arr(obj({"account":string,"ok_at":nint,"error":nstr,"error_at":nint,"endpoints":integer})),
   "endpoints":arr(ref("Endpoint"))}),
 "Words": obj({"en":string,"zh-CN":string},["en","zh-CN"]),
 "Setting": obj({"key":string,"value":{},"default":{},"source":{"enum":["default","dashboard","config_file","environment","flag"]},
   "editable":boolean,"locked_reason":nstr,"env":string,"flag":string,
   "kind":{"enum":["integer","seconds","boolean","text","choice"]},
   "choices":arr(obj({"value":string,"label":ref("Words")})),
   "min":{"type":["number","null"]},"max":{"type":["number","null"]},
   "group":{"enum":["conversations","retries","limits","pool","usage","upstream"]},
   "live":{"type":"boolean","description":"Changes apply at once; false: at the next start"},
   "label":ref("Words"),"help":ref("Words")}),
 "Overview": obj({"from":integer,"to":integer,"requests":integer,"successes":integer,"success_rate":{"type":["number","null"]},
   "input_tokens":integer,"output_tokens":integer,"estimated_tokens":integer,"latency_ms_avg":{"type":["number","null"]},
   "latency_ms_p50":{"type":["number","null"],"description":"Estimated from hourly histograms, within about 10 %"},"latency_ms_p95":{"type":["number","null"]},
   "ttft_ms_p50":{"type":["number","null"],"description":"Time to first content (streams)"},"ttft_ms_p95":{"type":["number","null"]},
   "accounts":obj({"total":integer,"healthy":integer}),"upstream_problem":ref("UpstreamProblem")}, extra=True),
 "Bucket": obj({"start":integer,"requests":integer,"successes":integer,"input_tokens":integer,"output_tokens":integer},extra=True),
 "Share": obj({"key":string,"requests":integer,"successes":integer,"input_tokens":integer,"output_tokens":integer},extra=True),
 "Request": obj({"id":integer,"ts":integer,"client_token":string,"account":nstr,"model":string,"endpoint_id":nstr,"stream":boolean,"status":integer,
   "error_class":nstr,"attempts":integer,"latency_ms":integer,"ttft_ms":nint,"input_tokens":integer,"output_tokens":integer,"tokens_estimated":boolean,"session_reused":boolean,
   "failed_attempts":arr(obj({"account":string,"status":nint,"code":nstr,"message":string})),
   "notes":{"type":["string","null"],"description":"What the proxy changed to suit the endpoint (e.g. a dropped reasoning_effort), one per line"}}),
 "ExportDocument": obj({"format":{"const":"ondemand-proxy-export"},"version":{"const":1},"exported_at":integer,
   "includes_secrets":{"type":"boolean","description":"Whether account secrets and token hashes are in the file"},
   "accounts":arr(obj({"name":string,"kind":string,"api_key":string,"email":string,"password":string,"weight":integer,"max_concurrent":nint,"enabled":boolean})),
   "tokens":arr(obj({"name":string,"secret_hash":string,"prefix":nstr,"limits":ref("TokenLimits"),"enabled":boolean,"used_requests":integer,"used_tokens":integer})),
   "aliases":arr(obj({"alias":string,"endpoint_id":string}))},["format","version","includes_secrets"]),
 "ImportOutcome": obj({"added":arr(string),"replaced":arr(string),"skipped":arr(obj({"name":string,"reason":string}))}),
 "ImportReport": obj({"accounts":ref("ImportOutcome"),"tokens":ref("ImportOutcome"),"aliases":ref("ImportOutcome"),
   "new_token_secrets":arr(obj({"name":string,"secret":string}))}),
}
def listof(n): return obj({"data":arr(ref(n))},extra=True)
paths={
 "/api/login":{"post":op("Sign in with the admin password; sets the session cookie",{"204":{"description":"Signed in (cookie `odp_admin`)"},**errors(400,401,403,429)},req=body(obj({"password":string},["password"])),tags=["auth"],security=False)},
 "/api/session":{"get":op("Whether the caller is signed in, and the proxy's version",{"200":jsonresp(obj({"authenticated":boolean,"version":string})),**errors(401)},tags=["auth"])},
 "/api/logout":{"post":op("End the browser session",{"204":{"description":"Signed out"},**errors(401)},tags=["auth"])},
 "/api/openapi.json":{"get":op("This document",{"200":jsonresp({"type":"object"})},tags=["meta"],security=False)},
 "/api/accounts":{"get":op("List accounts (secrets masked)",{"200":jsonresp(listof("Account")),**errors(401)},tags=["accounts"]),
   "post":op("Create an account",{"201":jsonresp(ref("Account"),"Created"),**errors(400,401,409,413)},req=body(ref("AccountInput")),tags=["accounts"])},
 "/api/accounts/{id}":{"get":op("One account",{"200":jsonresp(ref("Account")),**errors(401,404)},[idparam],tags=["accounts"]),
   "patch":op("Edit an account (enable/disable with `enabled`)",{"200":jsonresp(ref("Account")),**errors(400,401,403,404,413)},[idparam],body(ref("AccountInput")),tags=["accounts"]),
   "delete":op("Delete an account",{"204":{"description":"Deleted"},**errors(401,403,404)},[idparam],tags=["accounts"])},
 "/api/accounts/{id}/test":{"post":op("Send a real minimal query through the account",{"200":jsonresp(ref("AccountTest")),**errors(401,404)},[idparam],tags=["accounts"])},
 "/api/accounts/{id}/reset":{"post":op("Put the account back to healthy",{"200":jsonresp(ref("Account")),**errors(401,404)},[idparam],tags=["accounts"])},
 "/api/tokens":{"get":op("List client tokens (prefix only)",{"200":jsonresp(listof("Token")),**errors(401)},tags=["tokens"]),
   "post":op("Create a client token; the answer holds its secret, this once",{"201":jsonresp(ref("NewToken"),"Created"),**errors(400,401,409,413)},req=body(ref("TokenInput")),tags=["tokens"])},
 "/api/tokens/{id}":{"get":op("One client token",{"200":jsonresp(ref("Token")),**errors(401,404)},[idparam],tags=["tokens"]),
   "patch":op("Edit limits, expiry, models, enabled",{"200":jsonresp(ref("Token")),**errors(400,401,403,404)},[idparam],body(ref("TokenInput")),tags=["tokens"]),
   "delete":op("Revoke a client token for good",{"204":{"description":"Revoked"},**errors(401,403,404)},[idparam],tags=["tokens"])},
 "/api/aliases":{"get":op("The alias table: built-in and custom",{"200":jsonresp(obj({"data":arr(ref("Alias")),"passthrough_prefixes":arr(string)})),**errors(401)},tags=["models"]),
   "post":op("Add an alias (a built-in name is overridden)",{"201":jsonresp(obj({"alias":string,"endpoint_id":string}),"Created"),**errors(400,401,409)},req=body(obj({"alias":string,"endpoint_id":string},["alias","endpoint_id"])),tags=["models"])},
 "/api/aliases/{alias}":{"put":op("Point an alias at an endpoint (creates or overrides)",{"200":jsonresp(obj({"alias":string,"endpoint_id":string})),**errors(400,401)},[{"name":"alias","in":"path","required":True,"schema":string}],body(obj({"endpoint_id":string},["endpoint_id"])),tags=["models"]),
   "delete":op("Delete a custom alias (a built-in one it overrode returns)",{"204":{"description":"Deleted"},**errors(400,401,404)},[{"name":"alias","in":"path","required":True,"schema":string}],tags=["models"])},
 "/api/settings":{"get":op("Every setting: value, default, source, whether editable",{"200":jsonresp(listof("Setting")),**errors(401)},tags=["settings"]),
   "patch":op("Change settings live: {key: value}, null resets; all or nothing",{"200":jsonresp(listof("Setting")),**errors(400,401,409)},req=body({"type":"object"}),tags=["settings"])},
 "/api/proxy":{"get":op("Whether /v1 is paused, a proxy-wide upstream problem, and session cleanup",{"200":jsonresp(ref("Proxy")),**errors(401)},tags=["settings"]),
   "put":op("Pause or resume /v1 (paused: 503 proxy_paused; this API keeps working)",{"200":jsonresp(ref("Proxy")),**errors(400,401,413)},req=body(obj({"paused":boolean},["paused"])),tags=["settings"])},
 "/api/catalogue":{"get":op("The live endpoint catalogue: endpoints, availability, which account sees which, each account's last read",{"200":jsonresp(ref("Catalogue")),**errors(401)},tags=["models"])},
 "/api/catalogue/refresh":{"post":op("Read every account's catalogue now (a failed read keeps the last good list)",{"200":jsonresp(ref("Catalogue")),**errors(401)},tags=["models"])},
 "/api/export":{"get":op("Accounts, tokens and aliases as one document",{"200":jsonresp(ref("ExportDocument")),**errors(400,401)},[q("secrets",boolean,"Include account secrets and token hashes")],tags=["transfer"])},
 "/api/import":{"post":op("Import a document: checked whole, applied in one transaction",{"200":jsonresp(ref("ImportReport")),**errors(400,401,413)},[q("mode",{"enum":["skip","replace"]},"What to do with names that exist (default skip)")],body(ref("ExportDocument")),tags=["transfer"])},
 "/api/events":{"get":op("Live events (SSE): `tick` every interval, `requests` when requests finished",{"200":{"description":"text/event-stream","content":{"text/event-stream":{"schema":string}}},**errors(400,401)},[q("interval_ms",integer,"100–60000, default 1000")],tags=["stats"])},
 "/api/stats/overview":{"get":op("Totals over a range",{"200":jsonresp(ref("Overview")),**errors(400,401)},rng,tags=["stats"])},
 "/api/stats/series":{"get":op("Hourly or daily buckets in the caller's time zone",{"200":jsonresp(obj({"bucket_ms":integer,"data":arr(ref("Bucket"))})),**errors(400,401)},
   [q("bucket",{"enum":["hour","day"]},"Default hour"),*rng,q("tz_offset",integer,"Minutes east of UTC, -840–840")],tags=["stats"])},
 "/api/stats/breakdown":{"get":op("Shares by model, account or token",{"200":jsonresp(listof("Share")),**errors(400,401)},[{"name":"by","in":"query","required":True,"schema":{"enum":["model","account","token"]}},*rng],tags=["stats"])},
 "/api/requests":{"get":op("Recent requests, newest first, keyset-paged",{"200":jsonresp(obj({"data":arr(ref("Request")),"next_before":nint})),**errors(400,401)},
   [q("before",integer,"The previous page's next_before"),q("limit",integer,"1–1000, default 50"),q("outcome",{"enum":["ok","error"]},""),q("model",string,""),q("account",string,""),q("token",string,"Client token name"),*rng],tags=["stats"])},
}
doc={"openapi":"3.1.0","info":{"title":"OnDemand Proxy admin API","version":"1",
  "description":"Manage accounts, client tokens, model aliases and settings, and read usage. Errors use the OpenAI envelope. Only localhost or IP-literal Host headers are answered."},
 "servers":[{"url":"/"}],
 "security":[{"adminPassword":[]},{"session":[]}],
 "paths":paths,
 "components":{"securitySchemes":{"adminPassword":{"type":"http","scheme":"bearer","description":"The admin password"},
   "session":{"type":"apiKey","in":"cookie","name":"odp_admin","description":"From POST /api/login"}},
   "responses":{"Error":{"description":"An error in the OpenAI envelope","content":{"application/json":{"schema":ref("Error")}}}},
   "schemas":schemas}}
import os; open(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'crates/server/src/admin/openapi.json'),'w').write(json.dumps(doc,indent=1,ensure_ascii=False)+"\n")
