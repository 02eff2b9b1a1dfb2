using System.Net;
using System.Net.Sockets;

namespace Qubrid.Webhooks;

/// <summary>
/// Which URLs a user's endpoint may name: https on a host whose every address is public (not loopback, private,
/// link-local, shared or unspecified), unless the host is on <see cref="WebhookOptions.AllowedHosts"/>. The sender
/// checks the addresses again when it connects, so a name that later resolves inward is refused too.
/// </summary>
public static class WebhookAddresses
{
    public const int MaxUrlLength = 2048;

    public static bool IsAllowListed(string host, IReadOnlyCollection<string> allowedHosts) =>
        allowedHosts.Any(h => string.Equals(h, host, StringComparison.OrdinalIgnoreCase));

    // R-HOOK-2: https, every resolved address public, unless allow-listed.
    /// <summary>Null when the URL is acceptable, else why not. <paramref name="resolve"/> looks a host name up.</summary>
    public static async Task<string?> ProblemAsync(string? url, bool userEndpoint, IReadOnlyCollection<string> allowedHosts,
        Func<string, Task<IPAddress[]>> resolve)
    {
        if (string.IsNullOrWhiteSpace(url) || url.Length > MaxUrlLength) return $"The url must be 1–{MaxUrlLength} characters.";
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http"))
            return "The url must be an absolute https URL.";
        if (uri.UserInfo.Length > 0) return "The url must not carry a user name or password.";
        if (uri.Fragment.Length > 0) return "The url must not have a fragment.";
        if (IsAllowListed(uri.IdnHost, allowedHosts)) return null;
        if (!userEndpoint) return null; // the admin's own endpoints may be internal services
        if (uri.Scheme != "https") return "The url must use https.";
        IPAddress[] addresses;
        if (IPAddress.TryParse(uri.IdnHost.Trim('[', ']'), out var literal)) addresses = [literal];
        else
        {
            try
            {
                addresses = await resolve(uri.IdnHost);
            }
            catch (SocketException)
            {
                return $"The host '{uri.IdnHost}' does not resolve.";
            }
        }
        if (addresses.Length == 0) return $"The host '{uri.IdnHost}' does not resolve.";
        return addresses.All(IsPublic) ? null : "The url must not point at a loopback, private or link-local address.";
    }

    /// <summary>True for addresses on the public internet.</summary>
    public static bool IsPublic(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) || address.Equals(IPAddress.IPv6None))
            return false;
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var b = address.GetAddressBytes();
            return !(b[0] == 0 || b[0] == 10 || b[0] == 127
                || (b[0] == 100 && b[1] >= 64 && b[1] <= 127)   // shared (CGNAT)
                || (b[0] == 169 && b[1] == 254)                 // link-local (cloud metadata)
                || (b[0] == 172 && b[1] >= 16 && b[1] <= 31)
                || (b[0] == 192 && b[1] == 168)
                || (b[0] == 192 && b[1] == 0 && b[2] == 0)
                || (b[0] == 198 && (b[1] == 18 || b[1] == 19))  // benchmarking
                || b[0] >= 224);                                // multicast, reserved, broadcast
        }
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            var b = address.GetAddressBytes();
            return !(address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6Multicast
                || (b[0] & 0xfe) == 0xfc                         // unique local fc00::/7
                || address.IsIPv6Teredo);
        }
        return false;
    }
}
