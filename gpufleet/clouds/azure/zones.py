"""Which Azure regions have availability zones, answered in one place for every zonal choice
(zone-redundant storage, the VPN gateway SKU and its public IPs).

`availability_zones(region)` is the one function the components and the model call: when the
cloud models gain a zones capability (issue 28), only its body changes.
"""

from __future__ import annotations

# Regions with availability zones (Microsoft Learn, "Azure regions with availability zone
# support"); elsewhere zone-redundant storage is not offered (the account falls back to LRS) and
# zone-redundant gateway SKUs and zonal public IPs cannot be created. westus is not among them.
ZONE_REDUNDANT_REGIONS: frozenset[str] = frozenset(
    [
        "australiaeast",
        "austriaeast",
        "brazilsouth",
        "canadacentral",
        "centralindia",
        "centralus",
        "chilecentral",
        "eastasia",
        "eastus",
        "eastus2",
        "francecentral",
        "germanywestcentral",
        "indonesiacentral",
        "israelcentral",
        "italynorth",
        "japaneast",
        "japanwest",
        "koreacentral",
        "malaysiawest",
        "mexicocentral",
        "newzealandnorth",
        "northeurope",
        "norwayeast",
        "polandcentral",
        "qatarcentral",
        "southafricanorth",
        "southcentralus",
        "southeastasia",
        "spaincentral",
        "swedencentral",
        "switzerlandnorth",
        "uaenorth",
        "uksouth",
        "westeurope",
        "westus2",
        "westus3",
    ]
)

ZONES = ("1", "2", "3")


def availability_zones(region: str) -> tuple[str, ...]:
    """The region's availability zones ("1", "2", "3"), or none where it has none."""
    return ZONES if region in ZONE_REDUNDANT_REGIONS else ()
