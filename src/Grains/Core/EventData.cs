using System.Text;
using System.Text.Json;

namespace Qubrid.Core;

/// <summary>The <c>data</c> object of an event: names and values, amounts as exact USD numbers.</summary>
public static class EventData
{
    public static string Of(params (string Name, object? Value)[] members)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            foreach (var (name, value) in members)
            {
                switch (value)
                {
                    case null: json.WriteNull(name); break;
                    case Micros m: json.WriteNumber(name, m.ToUsd()); break;
                    case long l: json.WriteNumber(name, l); break;
                    case int i: json.WriteNumber(name, i); break;
                    case decimal d: json.WriteNumber(name, d); break;
                    case DateTimeOffset t: json.WriteString(name, t.UtcDateTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture)); break;
                    default: json.WriteString(name, value.ToString()); break;
                }
            }
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
