using System.Net.Http.Json;
using System.Text.Json;

namespace Qubrid.Tests.Infrastructure;

/// <summary>Reading answers in API tests (imported statically in every test file).</summary>
public static class HttpJson
{
    public static async Task<JsonElement> Json(HttpResponseMessage response) => await response.Content.ReadFromJsonAsync<JsonElement>();
}
