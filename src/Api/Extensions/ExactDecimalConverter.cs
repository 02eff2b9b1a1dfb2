using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Qubrid.Api.Extensions;

/// <summary>
/// Reads a JSON number as a decimal only when the decimal holds it exactly: a number with more significant digits than a
/// decimal keeps (1.00000000000000000000000000001) is refused, not rounded, and so is a quoted number ("10"). The failure
/// is a <see cref="JsonException"/> around a <see cref="FormatException"/>, which <see cref="ApiHostingExtensions.UseQubridErrors"/>
/// answers as invalid_amount for an amount.
/// </summary>
public sealed class ExactDecimalConverter : JsonConverter<decimal>
{
    public override decimal Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.Number)
            throw Refused($"Expected a JSON number, got {reader.TokenType}.");
        var raw = reader.HasValueSequence ? Encoding.UTF8.GetString(reader.ValueSequence.ToArray()) : Encoding.UTF8.GetString(reader.ValueSpan);
        if (!decimal.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            throw Refused($"The number {Shorten(raw)} does not fit a decimal.");
        if (Canonical(raw) != Canonical(value.ToString(CultureInfo.InvariantCulture)))
            throw Refused($"The number {Shorten(raw)} has more digits than can be kept exactly.");
        return value;
    }

    /// <summary>An OpenAPI schema transformer: a decimal (this converter's) is a JSON number, exact to the decimal.</summary>
    public static Task DescribeAsync(Microsoft.OpenApi.OpenApiSchema schema, Microsoft.AspNetCore.OpenApi.OpenApiSchemaTransformerContext context, CancellationToken ct)
    {
        var type = context.JsonTypeInfo.Type;
        if (type == typeof(decimal) || type == typeof(decimal?))
        {
            schema.Type = type == typeof(decimal) ? Microsoft.OpenApi.JsonSchemaType.Number : Microsoft.OpenApi.JsonSchemaType.Number | Microsoft.OpenApi.JsonSchemaType.Null;
            schema.Format = "decimal";
        }
        return Task.CompletedTask;
    }

    public override void Write(Utf8JsonWriter writer, decimal value, JsonSerializerOptions options) => writer.WriteNumberValue(value);

    private static JsonException Refused(string message) => new(message, new FormatException(message));

    private static string Shorten(string raw) => raw.Length <= 40 ? raw : raw[..40] + "…";

    /// <summary>A number's value as "sign digits e exponent" with no leading or trailing zeros in the digits: equal texts, equal values.</summary>
    internal static string Canonical(string number)
    {
        var s = number.AsSpan();
        bool negative = s.Length > 0 && s[0] == '-';
        if (negative || (s.Length > 0 && s[0] == '+')) s = s[1..];
        long exponent = 0;
        int e = s.IndexOfAny('e', 'E');
        if (e >= 0)
        {
            if (!long.TryParse(s[(e + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out exponent)) return $"unrepresentable {number}";
            s = s[..e];
        }
        var digits = new StringBuilder(s.Length);
        int dot = s.IndexOf('.');
        if (dot >= 0)
        {
            digits.Append(s[..dot]).Append(s[(dot + 1)..]);
            exponent -= s.Length - dot - 1;
        }
        else
        {
            digits.Append(s);
        }
        var text = digits.ToString().TrimStart('0');
        if (text.Length == 0) return "0";
        int trailing = text.Length - text.TrimEnd('0').Length;
        text = text[..^trailing];
        exponent += trailing;
        return $"{(negative ? "-" : "")}{text}e{exponent}";
    }
}
