from decimal import Decimal

from portal.billing.margin import CostLine, RevenueLine, margin_report


def test_margin_by_deployment_and_kind_to_the_cent():
    revenue = [
        RevenueLine(1, "plan_base", None, 5000),
        RevenueLine(1, "addon", "spaces_gb", 750),
        RevenueLine(1, "overage", "droplet_hours", 672),
        RevenueLine(2, "plan_base", None, 5000),
        RevenueLine(None, "tax", None, 1142),  # GST is not revenue
    ]
    costs = [
        CostLine(1, "Droplets", 2400),   # USD 24.00 × 1.55 = 37.20 AUD
        CostLine(1, "Droplets", 1201),   # 12.01 × 1.55 = 18.6155 → 18.62
        CostLine(1, "Spaces", 1000),     # 15.50
        CostLine(None, "Droplets", 600),  # an unattributed droplet: 9.30
        CostLine(2, "Load Balancers", 1200),  # 18.60, kind "other"
    ]
    report = margin_report(revenue, costs, Decimal("1.55"))
    deps = {r.key: (r.revenue_cents, r.cost_cents, r.margin_cents) for r in report.by_deployment}
    assert deps == {1: (6422, 3720 + 1862 + 1550, 6422 - 7132),
                    2: (5000, 1860, 3140),
                    None: (0, 930, -930)}
    kinds = {r.key: (r.revenue_cents, r.cost_cents) for r in report.by_kind}
    assert kinds == {"plan": (10000, 0), "spaces_gb": (750, 1550),
                     "droplet_hours": (672, 3720 + 1862 + 930), "other": (0, 1860)}
    total = report.total
    assert (total.revenue_cents, total.cost_cents, total.margin_cents) == (11422, 9922, 1500)
    assert total.margin_percent == Decimal("13.1")
    assert [r.key for r in report.by_deployment] == [1, 2, None]


def test_no_revenue_has_no_percentage():
    report = margin_report([], [CostLine(1, "Droplets", 100)], Decimal("1"))
    assert report.total.margin_percent is None and report.total.margin_cents == -100
