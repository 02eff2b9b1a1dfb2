using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Qubrid.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Qubrid.Tests.Api;

/// <summary>
/// A seeded fuzzer over every endpoint and role: a few thousand malformed requests (bad ids, wrong methods, wrong content
/// types, oversize and chunked bodies, duplicate members, quoted numbers, bad amounts, dates, cursors and limits, random
/// bytes). No answer is a 5xx, every 4xx is problem+json with a code, and no wallet, balance, ledger row or session changes.
/// The seed is printed; QUBRID_FUZZ_SEED replays it (QUBRID_FUZZ_COUNT changes the number of requests).
/// Its own API host (and database), so that nothing else moves the balances it watches.
/// </summary>
public sealed class FuzzerTests(ApiHost api, ITestOutputHelper output) : IClassFixture<ApiHost>
{
    public const string SeedVariable = "QUBRID_FUZZ_SEED";
    public const string CountVariable = "QUBRID_FUZZ_COUNT";

    [Fact]
    [Trait("Rule", "R-INPUT-1")]
    public async Task Malformed_requests_over_every_endpoint_and_role_are_refused_cleanly_and_change_nothing()
    {
        int seed = Environment.GetEnvironmentVariable(SeedVariable) is { Length: > 0 } s ? int.Parse(s) : Random.Shared.Next();
        int count = Environment.GetEnvironmentVariable(CountVariable) is { Length: > 0 } c ? int.Parse(c) : 5_000;
        output.WriteLine($"fuzz seed {seed} ({count} requests); replay with {SeedVariable}={seed}");
        Console.WriteLine($"FuzzerTests: seed {seed}; replay with {SeedVariable}={seed}");

        var world = await World.CreateAsync(api);
        var before = await SnapshotAsync();
        var random = new Random(seed);
        var probes = Enumerable.Range(0, count).Select(i => Probes.Next(random, world, i)).ToList();

        var clock = Stopwatch.StartNew();
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var statuses = new System.Collections.Concurrent.ConcurrentDictionary<int, int>();
        await Parallel.ForEachAsync(probes, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (probe, _) =>
        {
            var (status, problem) = await SendAsync(world, probe);
            statuses.AddOrUpdate(status, 1, (_, n) => n + 1);
            if (problem is not null) failures.Enqueue($"#{probe.Index} {probe}: {problem}");
        });
        clock.Stop();

        var after = await SnapshotAsync();
        output.WriteLine($"{count} requests in {clock.Elapsed.TotalSeconds:0.0} s; statuses: " +
            string.Join(", ", statuses.OrderBy(p => p.Key).Select(p => $"{p.Key}×{p.Value}")));
        foreach (var f in failures.Take(40)) output.WriteLine(f);
        Assert.True(failures.IsEmpty, $"seed {seed} ({SeedVariable}={seed}): {failures.Count} bad answers, e.g.\n" + string.Join("\n", failures.Take(15)));
        Assert.True(before == after, $"seed {seed} ({SeedVariable}={seed}): the state changed: before {before}, after {after}");
    }

    /// <summary>What no refusal may change: wallets and their balances, ledger rows, lots, sessions, payments.</summary>
    private async Task<string> SnapshotAsync()
    {
        var parts = new List<string>();
        foreach (var (name, sql) in new[]
        {
            ("wallets", "SELECT count(*) FROM qubrid_wallets"), ("balance", "SELECT coalesce(sum(balance), 0) FROM qubrid_wallets"),
            ("ledger", "SELECT count(*) FROM qubrid_ledger"), ("lots", "SELECT count(*) FROM qubrid_lots"),
            ("sessions", "SELECT count(*) FROM qubrid_wallet_sessions"), ("payments", "SELECT count(*) FROM qubrid_payments"),
        })
            parts.Add($"{name} {await TestDatabase.ScalarAsync(api.Db, sql)}");
        return string.Join(", ", parts);
    }

    /// <summary>Sends a probe; answers its status and, when the answer is wrong, why.</summary>
    private static async Task<(int Status, string? Problem)> SendAsync(World world, Probe probe)
    {
        using var request = probe.ToRequest();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        HttpResponseMessage response;
        try
        {
            response = await world.Client(probe.Caller).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        }
        catch (Exception e)
        {
            return (0, $"no answer: {e.GetType().Name}: {e.Message}");
        }
        using (response)
        {
            int status = (int)response.StatusCode;
            if (response.Content.Headers.ContentType?.MediaType == "text/event-stream") return (status, null); // a live stream: headers suffice
            string body;
            try
            {
                body = await response.Content.ReadAsStringAsync(timeout.Token);
            }
            catch (Exception e)
            {
                return (status, $"{status} with an unreadable body: {e.GetType().Name}: {e.Message}");
            }
            if (status >= 500) return (status, $"{status}: {Shorten(body)}");
            if (status < 400) return (status, null);
            if (response.Content.Headers.ContentType?.MediaType != "application/problem+json")
                return (status, $"{status} as '{response.Content.Headers.ContentType}', not problem+json: {Shorten(body)}");
            try
            {
                using var doc = JsonDocument.Parse(body);
                if (!doc.RootElement.TryGetProperty("code", out var code) || code.ValueKind != JsonValueKind.String || code.GetString() is not { Length: > 0 })
                    return (status, $"{status} problem without a code: {Shorten(body)}");
                if (!doc.RootElement.TryGetProperty("status", out var st) || st.GetInt32() != status)
                    return (status, $"{status} problem with another status: {Shorten(body)}");
            }
            catch (JsonException)
            {
                return (status, $"{status} problem+json that is not JSON: {Shorten(body)}");
            }
            return (status, null);
        }
    }

    private static string Shorten(string s) => s.Length <= 300 ? s : s[..300] + "…";

    public enum Caller { Admin, Orchestrator, OwnUser, OtherUser, Anonymous, UnknownKey, MalformedAuth }

    /// <summary>The fixed cast: two wallets with user keys, an orchestrator, and clients for every caller.</summary>
    public sealed class World
    {
        public required string UserA { get; init; }
        public required string UserB { get; init; }
        public required Dictionary<Caller, HttpClient> Clients { get; init; }
        /// <summary>The host's clock, which billing reads: a grant's expiry must be after it.</summary>
        public required TimeProvider Clock { get; init; }

        public HttpClient Client(Caller caller) => Clients[caller];

        public static async Task<World> CreateAsync(ApiHost api)
        {
            var (a, clientA) = await api.NewUserAsync("fuzz-a");
            var (b, _) = await api.NewUserAsync("fuzz-b");
            var malformed = api.Client();
            malformed.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", "Basic Zm9vOmJhcg==");
            return new World
            {
                Clock = api.Clock,
                UserA = a, UserB = b,
                Clients = new()
                {
                    [Caller.Admin] = api.Client(api.AdminKey),
                    [Caller.Orchestrator] = api.Client(await api.IssueKeyAsync("orchestrator")),
                    [Caller.OwnUser] = clientA, // the user of wallet A; wallet B is "the other user's"
                    [Caller.OtherUser] = api.Client(await api.IssueKeyAsync("user", b)),
                    [Caller.Anonymous] = api.Client(),
                    [Caller.UnknownKey] = api.Client($"qbk_user_{Guid.NewGuid():N}"),
                    [Caller.MalformedAuth] = malformed,
                },
            };
        }
    }

    /// <summary>One malformed request, described well enough to read in a failure.</summary>
    public sealed record Probe(int Index, Caller Caller, string Method, string Path, byte[]? Body, string? ContentType, bool Chunked,
        IReadOnlyList<(string Name, string Value)> Headers, string What)
    {
        public HttpRequestMessage ToRequest()
        {
            var request = new HttpRequestMessage(new HttpMethod(Method), Path);
            if (Body is not null)
            {
                HttpContent content = Chunked ? new StreamContent(new UnknownLengthStream(Body)) : new ByteArrayContent(Body);
                if (ContentType is not null) content.Headers.TryAddWithoutValidation("Content-Type", ContentType);
                request.Content = content;
                if (Chunked) request.Headers.TransferEncodingChunked = true;
            }
            foreach (var (name, value) in Headers) request.Headers.TryAddWithoutValidation(name, value);
            return request;
        }

        public override string ToString()
        {
            var body = Body is null ? "" : $" body[{Body.Length}{(Chunked ? ", chunked" : "")}, {ContentType ?? "no type"}]: " +
                (Body.Length <= 160 ? Encoding.UTF8.GetString(Body) : Encoding.UTF8.GetString(Body, 0, 160) + "…");
            return $"{What} | {Caller} {Method} {Path}{body}";
        }
    }

    /// <summary>How the probes are made: a defect (at least one, on every request that could change anything), a caller, a shape.</summary>
    public static class Probes
    {
        private static readonly string[] BadIds =
        [
            "alice%0A", "alice%0D%0A", "a%20b", "%20", new string('a', 129), "-starts-with-dash", ".", "..", "%00", "a%00b", "%C3%A9t%C3%A9",
            "a%2Fb", "a%5Cb", "a%22b", "a%27b", "%E2%80%8B", "a%09b", "%FF%FE", "a;b", "a%3Cscript%3E", "a$b", "a%25",
        ];

        /// <summary>
        /// Bad ids for a path. A NUL (%00) is left to queries and bodies: in a path, Kestrel refuses it with its own 400 before
        /// any application code runs, and the test server throws on the client side instead of answering.
        /// </summary>
        private static readonly string[] BadPathIds = BadIds.Where(id => !id.Contains("%00")).ToArray();

        private static readonly string[] BadAmounts =
        [
            "0", "-0", "1.0000001", "1e30", "-1e30", "1e15", "1.00000000000000000000000000001", "0.0000000000000000000000000000001", "1e-40",
            "79228162514264337593543950336", "99999999999999999999999999999999999", "\"10\"", "\"-5\"", "\"lots\"", "true", "null", "[]", "{}",
            "NaN", "Infinity", "-", "1.", ".5", "01", "0x10", "1e", "+1",
        ];

        private static readonly string[] BadTimes =
        [
            "notatime", "0001-01-02", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2026-02-30", "2026-13-01", "1969-12-31T23:59:59Z",
            "%00", "2026-01-01T25:00:00Z", "99999-01-01", "-2026-01-01", "2026-01-01T00:00:00+25:00", "1e10", "",
        ];

        private static readonly string[] BadCursors = ["x", "-1", "0", "99999999999999999999", "1.5", "%00", "AAAA", "@@@", "MTIzfGF8Yg", "ZZZZZZZZ", "%0A1"];

        private static readonly string[] BadLimits = ["0", "-1", "501", "1000000", "abc", "1e3", "1.5", "%00", "99999999999999999999"];

        private static readonly string[] WrongContentTypes =
        [
            "text/plain", "application/xml", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx",
            "text/json; charset=utf-99", "*/*", "application/octet-stream",
        ];

        private static readonly string[] Methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND", "FOO"];

        /// <summary>Every route with the methods it answers (the ids filled in later).</summary>
        private static readonly (string Path, string[] Methods)[] Routes =
        [
            ("/v1/rates", ["GET"]), ("/v1/rates/{type}", ["PUT"]), ("/v1/models", ["GET"]), ("/v1/topup-options", ["GET"]), ("/v1/me", ["GET"]),
            ("/v1/api-keys", ["POST"]), ("/v1/wallets/{u}", ["PUT", "GET"]), ("/v1/wallets/{u}/lots", ["GET"]), ("/v1/wallets/{u}/ledger", ["GET"]),
            ("/v1/wallets/{u}/ledger.csv", ["GET"]), ("/v1/wallets/{u}/usage", ["GET"]), ("/v1/wallets/{u}/topups", ["POST"]),
            ("/v1/wallets/{u}/grants", ["POST"]), ("/v1/wallets/{u}/adjustments", ["POST"]), ("/v1/wallets/{u}/refunds", ["POST"]),
            ("/v1/sessions", ["POST", "GET"]), ("/v1/sessions/events", ["GET"]), ("/v1/sessions/{s}", ["GET"]), ("/v1/sessions/{s}/stop", ["POST"]),
            ("/v1/inference/charges", ["POST"]), ("/v1/premium/charges", ["POST"]), ("/health/live", ["GET"]), ("/health/ready", ["GET"]),
            ("/metrics", ["GET"]), ("/openapi/v1.json", ["GET"]),
        ];

        private static readonly string[] BodyCalls = ["topups", "grants", "adjustments", "refunds", "sessions", "inference", "premium", "rates", "api-keys"];

        public static Probe Next(Random r, World w, int index)
        {
            var caller = Pick(r, [Caller.Admin, Caller.Admin, Caller.Admin, Caller.Orchestrator, Caller.Orchestrator, Caller.OwnUser, Caller.OwnUser,
                Caller.OtherUser, Caller.Anonymous, Caller.UnknownKey, Caller.MalformedAuth]);
            return r.Next(100) switch
            {
                < 12 => WrongMethod(r, w, index, caller),
                < 24 => BadPathId(r, w, index, caller),
                < 30 => Unmatched(r, index, caller),
                < 72 => BadBody(r, w, index, caller),
                < 95 => BadQuery(r, w, index, caller),
                _ => Odd(r, w, index, caller),
            };
        }

        private static Probe WrongMethod(Random r, World w, int index, Caller caller)
        {
            var (path, allowed) = Pick(r, Routes);
            var method = Pick(r, Methods.Except(allowed).ToArray());
            byte[]? body = r.Next(2) == 0 ? null : Encoding.UTF8.GetBytes("""{"amount": 1, "reason": "x"}""");
            return new Probe(index, caller, method, Fill(path, w, r), body, body is null ? null : "application/json", false,
                [("Idempotency-Key", Guid.NewGuid().ToString())], "wrong method");
        }

        private static Probe BadPathId(Random r, World w, int index, Caller caller)
        {
            var id = Pick(r, BadPathIds);
            var (path, methods) = Pick(r, Routes.Where(p => p.Path.Contains('{') && !p.Path.Contains("{type}")).ToArray());
            var method = Pick(r, methods);
            path = path.Replace("{u}", id).Replace("{s}", id);
            byte[]? body = method == "GET" || path.EndsWith("/stop") || method == "PUT" ? null : ValidBody(r, w, CallOf(path), id);
            return new Probe(index, caller, method, path, body, body is null ? null : "application/json", false,
                [("Idempotency-Key", Guid.NewGuid().ToString())], $"bad id {id}");
        }

        private static Probe Unmatched(Random r, int index, Caller caller)
        {
            var segments = Enumerable.Range(0, r.Next(1, 5)).Select(_ => r.Next(4) switch
            {
                0 => Pick(r, ["v1", "v2", "wallets", "sessions", "x", "..", "%2e%2e", "api", "admin", "ledger.csv"]),
                1 => RandomSegment(r),
                2 => Uri.EscapeDataString(Pick(r, BadIds)),
                _ => r.Next(1000).ToString(),
            });
            var path = "/" + string.Join('/', segments);
            if (r.Next(3) == 0) path = "/v1/wallets/x/" + RandomSegment(r);
            var method = Pick(r, Methods);
            // By chance "/v1/wallets/{number}": a PUT would create a wallet (a valid request); these probes only read.
            if (path.StartsWith("/v1/wallets/", StringComparison.Ordinal) && method == "PUT") method = "GET";
            return new Probe(index, caller, method, path, null, null, false, [], "unmatched route");
        }

        private static Probe BadBody(Random r, World w, int index, Caller caller)
        {
            var call = Pick(r, BodyCalls);
            // Mostly the role the endpoint is for, so that the defect, not the role, is what is refused.
            if (r.Next(10) < 6) caller = call switch
            {
                "topups" => Caller.OwnUser,
                "sessions" or "inference" or "premium" => Caller.Orchestrator,
                _ => Caller.Admin,
            };
            var (method, path) = Target(call, w, r);
            var body = ValidBody(r, w, call, r.Next(4) == 0 ? w.UserB : w.UserA);
            var contentType = "application/json";
            bool chunked = false;
            var headers = new List<(string, string)>();
            bool money = call is "topups" or "grants" or "adjustments" or "refunds" or "inference" or "premium";
            if (money) headers.Add(("Idempotency-Key", Guid.NewGuid().ToString()));
            var defects = new List<string>();
            // At least one defect the endpoint must refuse, whatever the caller: the body then can never be a valid request.
            int n = 1 + (r.Next(4) == 0 ? 1 : 0);
            for (int i = 0; i < n; i++)
            {
                var defect = r.Next(money ? 16 : 14);
                switch (defect)
                {
                    case 0: contentType = Pick(r, WrongContentTypes); defects.Add("content type"); break;
                    case 1: contentType = null; defects.Add("no content type"); break;
                    case 2: body = Oversize(r, body); defects.Add("oversize"); break;
                    case 3: body = Oversize(r, body); chunked = true; defects.Add("oversize chunked"); break;
                    case 4: body = Duplicate(r, body); defects.Add("duplicate member"); break;
                    case 5: body = Replace(body, FirstNumberMember(call), Pick(r, BadAmountsFor(call))); defects.Add("bad number"); break;
                    case 6: body = Replace(body, FirstNumberMember(call), Quote(r)); defects.Add("quoted number"); break;
                    case 7: body = RandomBytes(r); defects.Add("random bytes"); break;
                    case 8: body = body.Length <= 1 ? [] : body[..r.Next(0, body.Length - 1)]; defects.Add("truncated"); break;
                    case 9: body = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(body).TrimEnd('}') + ", \"surprise\": 1}"); defects.Add("unknown member"); break;
                    case 10: body = Encoding.UTF8.GetBytes(Pick(r, ["null", "[]", "\"x\"", "1", "true", "", " ", "[{}]"])); defects.Add("not an object"); break;
                    case 11: body = Encoding.UTF8.GetBytes(new string('[', 100) + new string(']', 100)); defects.Add("deep nesting"); break;
                    case 12: body = Replace(body, IdMember(call), "\"" + Pick(r, ["alice\\n", "a b", "", new string('x', 200), "\\u0000", "-x"]) + "\""); defects.Add("bad id in body"); break;
                    case 13: body = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(body).Replace("{", "{/*c*/ ").TrimEnd('}') + ",}"); defects.Add("comments and trailing comma"); break;
                    case 14: headers.RemoveAll(h => h.Item1 == "Idempotency-Key"); defects.Add("no Idempotency-Key"); break;
                    default:
                        headers.RemoveAll(h => h.Item1 == "Idempotency-Key");
                        headers.Add(("Idempotency-Key", r.Next(2) == 0 ? new string('k', 129) : " "));
                        defects.Add("bad Idempotency-Key");
                        break;
                }
            }
            return new Probe(index, caller, method, path, body, contentType, chunked, headers, $"{call}: {string.Join(" + ", defects)}");
        }

        private static Probe BadQuery(Random r, World w, int index, Caller caller)
        {
            var user = r.Next(3) == 0 ? w.UserB : w.UserA;
            int which = r.Next(9);
            if (r.Next(10) < 6) caller = which == 8 ? Caller.Orchestrator : Pick(r, [Caller.Admin, Caller.OwnUser]);
            var (path, name, values) = which switch
            {
                0 => ($"/v1/wallets/{user}/ledger", "from", BadTimes),
                1 => ($"/v1/wallets/{user}/ledger.csv", "to", BadTimes),
                2 => ($"/v1/wallets/{user}/usage", Pick(r, ["from", "to"]), BadTimes),
                3 => ($"/v1/wallets/{user}/ledger", "cursor", BadCursors),
                4 => ($"/v1/wallets/{user}/ledger", "limit", BadLimits),
                5 => ($"/v1/wallets/{user}/ledger.csv", "kind", ["nope", "grant,nope", ",", "GRANT", "%00", "grant%0A"]),
                6 => ($"/v1/wallets/{user}/usage", "groupBy", ["nope", "DAY", "", "%00", "day%0A"]),
                7 => ("/v1/sessions", Pick(r, ["cursor", "limit", "state", "userId"]), BadCursors.Concat(BadLimits).Concat(["running%0A", "nope"]).Concat(BadIds).ToArray()),
                _ => ("/v1/sessions/events", "after", BadCursors),
            };
            var query = $"{name}={Pick(r, values)}";
            if (r.Next(3) == 0) query += $"&{name}={Pick(r, values)}";
            var headers = new List<(string, string)>();
            if (path.EndsWith("/events")) headers.Add(("Last-Event-ID", Pick(r, ["x", "-1", "1.5", "99999999999999999999", " "])));
            return new Probe(index, caller, "GET", $"{path}?{query}", null, null, false, headers, $"bad query {name}");
        }

        /// <summary>The endpoints nobody thinks of: metrics and health with other methods, documents, a body on a GET.</summary>
        private static Probe Odd(Random r, World w, int index, Caller caller) => r.Next(4) switch
        {
            0 => new Probe(index, caller, Pick(r, ["POST", "PUT", "DELETE", "PATCH"]), Pick(r, ["/metrics", "/health/live", "/health/ready", "/openapi/v1.json"]),
                Encoding.UTF8.GetBytes("{}"), "application/json", false, [], "method on an infrastructure endpoint"),
            1 => new Probe(index, caller, "GET", $"/v1/wallets/{w.UserA}", RandomBytes(r), "application/json", r.Next(2) == 0, [], "a body on a GET"),
            2 => new Probe(index, caller, "PUT", $"/v1/wallets/{Pick(r, [w.UserA, w.UserB])}", null, null, false, [], "creating an existing wallet again"),
            _ => new Probe(index, caller, "GET", $"/v1/wallets/{w.UserA}/ledger?{RandomSegment(r)}={RandomSegment(r)}", null, null, false,
                [("Accept", Pick(r, ["text/xml", "application/problem+json", "*/*;q=0", "garbage"]))], "odd query and Accept"),
        };

        private static (string Method, string Path) Target(string call, World w, Random r)
        {
            var user = r.Next(4) == 0 ? w.UserB : w.UserA;
            return call switch
            {
                "sessions" => ("POST", "/v1/sessions"),
                "inference" => ("POST", "/v1/inference/charges"),
                "premium" => ("POST", "/v1/premium/charges"),
                "rates" => ("PUT", $"/v1/rates/{Pick(r, ["T4", "L4", "FUZZ" + r.Next(100)])}"),
                "api-keys" => ("POST", "/v1/api-keys"),
                _ => ("POST", $"/v1/wallets/{user}/{call}"),
            };
        }

        private static string CallOf(string path) => path switch
        {
            "/v1/sessions" => "sessions",
            _ when path.EndsWith("/topups") => "topups",
            _ when path.EndsWith("/grants") => "grants",
            _ when path.EndsWith("/adjustments") => "adjustments",
            _ => "refunds",
        };

        /// <summary>A body that would be accepted as it is: the defects are applied to it.</summary>
        private static byte[] ValidBody(Random r, World w, string call, string user)
        {
            var key = Guid.NewGuid().ToString("N");
            var future = w.Clock.GetUtcNow().AddDays(30).ToString("O");
            var json = call switch
            {
                "topups" => $$"""{"amount": 10, "paymentToken": "tok_visa"}""",
                "grants" => $$"""{"amount": 1, "expiresAt": "{{future}}", "reason": "fuzz"}""",
                "adjustments" => $$"""{"amount": 1, "reason": "fuzz"}""",
                "refunds" => $$"""{"amount": 1, "reason": "fuzz"}""",
                "sessions" => $$"""{"sessionId": "fuzz-{{key}}", "userId": "{{user}}", "instanceType": "T4"}""",
                "inference" => $$"""{"userId": "{{user}}", "model": "deepseek-r1", "inputTokens": 10, "outputTokens": 10}""",
                "premium" => $$"""{"userId": "{{user}}", "name": "flux-pro-image"}""",
                "rates" => """{"usdPerHour": 1.5}""",
                _ => $$"""{"role": "user", "userId": "{{user}}"}""",
            };
            return Encoding.UTF8.GetBytes(json);
        }

        private static string FirstNumberMember(string call) => call switch
        {
            "rates" => "usdPerHour",
            "inference" => "inputTokens",
            "sessions" => "instanceType",
            "premium" => "name",
            "api-keys" => "role",
            _ => "amount",
        };

        private static string IdMember(string call) => call switch
        {
            "sessions" => Pick(new Random(call.Length), ["sessionId", "userId"]),
            "inference" or "premium" or "api-keys" => "userId",
            "topups" => "paymentToken",
            "rates" => "usdPerHour",
            _ => "amount",
        };

        /// <summary>Values refused for the member: a debit is a valid adjustment, so adjustments get no plain negative number.</summary>
        private static string[] BadAmountsFor(string call) => call switch
        {
            "inference" => ["-1", "1.5", "1e30", "\"10\"", "99999999999999999999", "null", "true", "[]", "-9223372036854775809"],
            "sessions" or "premium" or "api-keys" => ["1", "null", "[]", "{}", "true", "\"\"", "\"nope\"", "\"T4\\n\""],
            _ => BadAmounts,
        };

        private static string Quote(Random r) => "\"" + Pick(r, ["10", "1", "-5", "1e3", "0x10", " 10", "10 "]) + "\"";

        /// <summary>The member's value replaced; when the body has no such member, the body is made invalid another way.</summary>
        private static byte[] Replace(byte[] body, string member, string value)
        {
            try
            {
                return ReplaceMember(body, member, value);
            }
            catch (Exception e) when (e is ArgumentException or IndexOutOfRangeException)
            {
                return [.. body, (byte)'}']; // a body already broken stays broken
            }
        }

        private static byte[] ReplaceMember(byte[] body, string member, string value)
        {
            var json = Encoding.UTF8.GetString(body);
            var at = json.IndexOf($"\"{member}\": ", StringComparison.Ordinal);
            if (at < 0) return Encoding.UTF8.GetBytes(json.TrimEnd('}') + $", \"{member}\": {value}}}");
            int start = at + member.Length + 4;
            int end = start;
            if (json[start] == '"') end = json.IndexOf('"', start + 1) + 1;
            else while (end < json.Length && json[end] is not (',' or '}')) end++;
            return Encoding.UTF8.GetBytes(json[..start] + value + json[end..]);
        }

        private static byte[] Duplicate(Random r, byte[] body)
        {
            var json = Encoding.UTF8.GetString(body);
            JsonDocument doc;
            try
            {
                doc = JsonDocument.Parse(json);
            }
            catch (JsonException)
            {
                return [.. body, (byte)'}']; // a body already broken stays broken
            }
            using var _ = doc;
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.EnumerateObject().Any()) return [.. body, (byte)'}'];
            var first = doc.RootElement.EnumerateObject().First();
            var again = first.Value.ValueKind == JsonValueKind.Number ? Pick(r, ["-5", "10", "0", "1"]) : first.Value.GetRawText();
            return Encoding.UTF8.GetBytes(json.TrimEnd('}') + $", \"{first.Name}\": {again}}}");
        }

        private static byte[] Oversize(Random r, byte[] body)
        {
            var json = Encoding.UTF8.GetString(body).TrimEnd('}');
            return Encoding.UTF8.GetBytes(json + $", \"pad\": \"{new string('x', 4_100 + r.Next(20_000))}\"}}");
        }

        private static byte[] RandomBytes(Random r)
        {
            var bytes = new byte[r.Next(1, 300)];
            r.NextBytes(bytes);
            return bytes;
        }

        private static string RandomSegment(Random r)
        {
            var bytes = new byte[r.Next(1, 12)];
            r.NextBytes(bytes);
            return string.Concat(bytes.Select(b => b is >= (byte)'a' and <= (byte)'z' ? ((char)b).ToString() : $"%{Math.Max(b, (byte)1):X2}")); // no NUL: see BadPathIds
        }

        private static string Fill(string path, World w, Random r) =>
            path.Replace("{u}", r.Next(3) == 0 ? w.UserB : w.UserA).Replace("{s}", $"fuzz-s-{r.Next(1000)}").Replace("{type}", "T4");

        private static T Pick<T>(Random r, T[] items) => items[r.Next(items.Length)];
    }

    /// <summary>A body of unknown length: sent chunked.</summary>
    private sealed class UnknownLengthStream(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => base.Position; set => throw new NotSupportedException(); }
    }
}
