using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Qubrid.Webhooks;

/// <summary>What a webhook request carries: the body <c>{id, type, createdAt, data}</c> and its signature. Pure.</summary>
public static class WebhookPayload
{
    public const string SignatureHeader = "Qubrid-Signature";

    /// <summary>The event id as receivers see it (and deduplicate on).</summary>
    public static string EventId(long id) => "evt_" + id.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// The body. data: userId, sessionId, reason, balance (USD), runwaySeconds, then the event's own members
    /// (a member of the event's own data replaces a common one of the same name).
    /// </summary>
    public static byte[] Body(BillingEvent e)
    {
        using var own = e.Data is { Length: > 0 } data ? JsonDocument.Parse(data) : null;
        var ownNames = new HashSet<string>(StringComparer.Ordinal);
        if (own?.RootElement.ValueKind == JsonValueKind.Object)
            foreach (var p in own.RootElement.EnumerateObject()) ownNames.Add(p.Name);

        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("id", EventId(e.Id));
            json.WriteString("type", e.Kind);
            json.WriteString("createdAt", e.At.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture));
            json.WritePropertyName("data");
            json.WriteStartObject();
            if (!ownNames.Contains("userId")) WriteStringOrNull(json, "userId", e.UserId.Length > 0 ? e.UserId : null);
            if (!ownNames.Contains("sessionId")) WriteStringOrNull(json, "sessionId", e.SessionId);
            if (!ownNames.Contains("reason")) WriteStringOrNull(json, "reason", e.Reason);
            if (!ownNames.Contains("balance")) json.WriteNumber("balance", e.Balance.ToUsd());
            if (!ownNames.Contains("runwaySeconds"))
            {
                if (e.RunwaySeconds is { } runway) json.WriteNumber("runwaySeconds", runway);
                else json.WriteNull("runwaySeconds");
            }
            if (own?.RootElement.ValueKind == JsonValueKind.Object)
                foreach (var p in own.RootElement.EnumerateObject()) p.WriteTo(json);
            json.WriteEndObject();
            json.WriteEndObject();
        }
        return buffer.ToArray();
    }

    // R-HOOK-5: t=<unix s>,v1=hex(HMAC-SHA256(secret, "t.body")).
    /// <summary><c>t=&lt;unix seconds&gt;,v1=&lt;hex HMAC-SHA256(secret, "&lt;t&gt;.&lt;body&gt;")&gt;</c>.</summary>
    public static string Signature(string secret, long unixSeconds, ReadOnlySpan<byte> body)
    {
        var t = unixSeconds.ToString(CultureInfo.InvariantCulture);
        var signed = new byte[t.Length + 1 + body.Length];
        Encoding.ASCII.GetBytes(t, signed);
        signed[t.Length] = (byte)'.';
        body.CopyTo(signed.AsSpan(t.Length + 1));
        var mac = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), signed);
        return $"t={t},v1={Convert.ToHexStringLower(mac)}";
    }

    private static void WriteStringOrNull(Utf8JsonWriter json, string name, string? value)
    {
        if (value is null) json.WriteNull(name);
        else json.WriteString(name, value);
    }
}
