"""The outside world of the demo network: servers with the country and ASN Slips would record.

Addresses are well-known public services (plus one documented C&C range); countries are the
English names Slips stores (GeoLite2 style), not ISO codes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Server:
    ip: str
    country: str
    asn: str
    org: str
    rdns: str
    domains: tuple[str, ...]


SERVERS = [
    Server("142.250.185.78", "United States", "AS15169", "GOOGLE", "fra16s48-in-f14.1e100.net", ("www.google.com", "google.com")),
    Server("151.101.1.69", "United States", "AS54113", "FASTLY", "reddit.map.fastly.net", ("www.reddit.com",)),
    Server("104.16.132.229", "United States", "AS13335", "CLOUDFLARENET", "cloudflare.com", ("www.cloudflare.com",)),
    Server("52.84.150.39", "Germany", "AS16509", "AMAZON-02", "server-52-84-150-39.fra50.r.cloudfront.net", ("www.amazon.de",)),
    Server("185.60.216.35", "Ireland", "AS32934", "FACEBOOK", "edge-star-mini-shv-01-dub4.facebook.com", ("www.facebook.com",)),
    Server("13.107.42.14", "Netherlands", "AS8068", "MICROSOFT-CORP-MSN-AS-BLOCK", "outlook.office.com", ("outlook.office365.com",)),
    Server("147.32.80.9", "Czechia", "AS2852", "CESNET z.s.p.o.", "ns.felk.cvut.cz", ("www.cvut.cz",)),
    Server("195.113.232.73", "Czechia", "AS2852", "CESNET z.s.p.o.", "www.msftncsi.com.edgesuite.net", ("www.msftncsi.com",)),
    Server("87.250.250.242", "Russia", "AS13238", "YANDEX LLC", "ya.ru", ("yandex.ru",)),
    Server("200.147.3.157", "Brazil", "AS7162", "Universo Online S.A.", "www.uol.com.br", ("www.uol.com.br",)),
    Server("133.242.0.3", "Japan", "AS7684", "SAKURA Internet Inc.", "www.sakura.ad.jp", ("www.sakura.ad.jp",)),
    Server("203.0.178.191", "Australia", "AS4826", "VOCUS-BACKBONE", "abc.net.au", ("www.abc.net.au",)),
    Server("41.203.64.1", "South Africa", "AS37100", "SEACOM-AS", "mail.seacom.mu", ("www.news24.com",)),
    Server("202.108.22.5", "China", "AS4808", "China Unicom Beijing", "baidu.com", ("www.baidu.com",)),
    Server("162.159.200.123", "Canada", "AS13335", "CLOUDFLARENET", "time.cloudflare.com", ("time.cloudflare.com",)),
    Server("81.2.69.160", "United Kingdom", "AS20712", "Andrews & Arnold Ltd", "bbc.co.uk", ("www.bbc.co.uk",)),
    Server("91.198.174.192", "Netherlands", "AS14907", "WIKIMEDIA", "text-lb.esams.wikimedia.org", ("en.wikipedia.org",)),
    Server("17.253.144.10", "United States", "AS714", "APPLE-ENGINEERING", "www.apple.com", ("www.apple.com",)),
]

# The beaconing host's command-and-control server.
CNC = Server("185.220.101.47", "Moldova", "AS200019", "ALEXHOST SRL", "tor-exit.alexhost.md", ())
