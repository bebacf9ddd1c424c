"""Facts pinned to the dossier (shared/research/policy-facts.md), so that a later edit of the
policy files cannot silently change a cap, a rate, a threshold, a duration or a date.

Each row: (item or policy, what, expected, dossier row).
"""

from __future__ import annotations

import pytest


def _item(kb, item_id):
    policy_id = item_id.split("/")[0]
    return next(it for it in kb.policy(policy_id).items if it.item_id == item_id)


def _rule_values(rule):
    """All (field, op, value) leaves of a rule."""
    if rule is None:
        return []
    if rule.field is not None:
        return [(rule.field, rule.op, rule.value)]
    out = []
    for child in (rule.all or []) + (rule.any or []) + ([rule.not_] if rule.not_ else []):
        out += _rule_values(child)
    return out


def _leaves(item):
    return [leaf for c in item.conditions for leaf in _rule_values(c.rule)]


AMOUNT_FACTS = [
    # item, attribute of amount (dotted), expected, dossier row
    ("zs-2022-digital-transformation/1.1", "formula.value_wan", 500, "1.1 示范工厂 ≤500万"),
    ("zs-2022-digital-transformation/1.2", "formula.value_wan", 200, "1.2 示范车间 ≤200万"),
    ("zs-2022-digital-transformation/1.3", "formula.value_wan", 100, "1.3 工业互联网标杆 ≤100万"),
    ("zs-2022-digital-transformation/1.4", "formula.rate", 0.2, "1.4 ≤20% of 设备和软件投入"),
    ("zs-2022-digital-transformation/1.4", "cap_wan", 2000, "1.4 cap 2000万 per project"),
    ("zs-2022-digital-transformation/1.5", "formula.value_wan", 1500, "1.5 产业链协同 ≤1500万"),
    ("zs-2022-digital-transformation/1.9", "cap_wan", 3000, "1.9 数字贷 ≤3000万 per firm per year"),
    ("zs-2022-digital-transformation/1.9", "years", 3, "1.9 ≤3 years"),
    ("zs-2022-cross-border-ecommerce/3.1", "formula.rate", 0.3, "3.1 独立站 30%"),
    ("zs-2022-cross-border-ecommerce/3.1", "cap_wan", 20, "3.1 ≤20万"),
    ("zs-2022-cross-border-ecommerce/3.1", "upgrades.0.cap_wan", 30, "3.1 ≥75万美元: ≤30万"),
    ("zs-2022-cross-border-ecommerce/3.1", "upgrades.0.formula.rate", 0.5, "3.1 ≥75万美元: 50%"),
    ("zs-2022-cross-border-ecommerce/3.2", "cap_wan", 50, "3.2 海外营销 ≤50万"),
    ("zs-2022-cross-border-ecommerce/3.2", "upgrades.0.cap_wan", 100, "3.2 ≥100万美元: ≤100万"),
    ("zs-2022-industrial-park-renovation/4.1", "formula.unit_yuan", 6, "4.1 6元/㎡·月"),
    ("zs-2022-industrial-park-renovation/4.1", "years", 2, "4.1 2 consecutive years"),
    ("zs-2022-industrial-park-renovation/4.1", "cap_field", "local_contribution_wan", "4.1 capped at 地方经济贡献"),
    ("zs-2022-manufacturing-investment-award/7.1", "formula.rate", 0.5, "7.1 ≤50% of 完成投资额"),
    ("zs-2022-manufacturing-investment-award/7.1", "cap_wan", 2000, "7.1 ≤2000万 per project"),
    ("zs-2022-manufacturing-investment-award/7.2", "cap_wan", 1000, "7.2 ≤1000万"),
    ("zs-2022-manufacturing-investment-award/7.3", "formula.rate", 0.5, "7.3 贴息 ≤50%"),
    ("zs-2022-tech-reform-fund/8.1", "formula.rate", 0.2, "8.1 ≤20% of 设备购置额"),
    ("zs-2022-tech-reform-fund/8.1", "cap_wan", 2000, "8.1 ≤2000万 per project"),
    ("zs-2022-small-firm-upscaling/9.1", "cap_wan", 30, "9.1 助保贷 贴息 ≤30万 per year"),
    ("zs-2022-small-firm-upscaling/9.1", "years", 2, "9.1 no more than 2 times"),
    ("zs-2022-small-firm-upscaling/9.2", "formula.value_wan", 10, "9.2 新升规 10万"),
    ("zs-2023-leading-enterprises/14.1", "formula.bands.0.min", 300000, "14.1 first threshold 30亿"),
    ("zs-2023-leading-enterprises/14.1", "formula.bands.0.value_wan", 300, "14.1 30亿 → ≤300万"),
    ("zs-2023-leading-enterprises/14.1", "formula.bands.-1.value_wan", 5000, "14.1 500亿 → ≤5000万"),
    ("zs-2023-sme-industrial/15.3", "formula.value_wan", 10, "15.3 新升规 10万"),
    ("zs-2023-sme-industrial/15.5", "formula.bands.1.value_wan", 20, "15.5 1亿–2亿: ≤20万"),
    ("zs-2023-sme-industrial/15.6", "formula.rate", 0.05, "15.6 5% of 实缴注册资金"),
    ("zs-2023-sme-industrial/15.6", "cap_wan", 200, "15.6 ≤200万"),
    ("zs-2023-new-year-18/16.1", "cap_wan", 100, "16.1 ≤100万"),
    ("zs-2023-new-year-18/16.1", "formula.threshold", 2000, "16.1 increase ≥2000万"),
    ("zs-2023-baizhan-qianqi/17.1", "formula.value_wan", 1.5, "17.1 ≤1.5万 per person"),
    ("zs-2023-baizhan-qianqi/17.1", "formula.count", 3, "17.1 ≤3 persons"),
    ("zs-2024-foreign-trade-fund/18.1", "cap_wan", 300, "18.1 ≤300万 per firm"),
    ("zs-2024-foreign-trade-fund/18.2", "formula.bands.-1.value_wan", 30, "18.2 ≥6亿 → 30万"),
    ("zs-2024-sme-digital-pilot/19.1", "formula.bands.0.value_wan", 30, "19.1 level 2: ≤30万"),
    ("zs-2024-sme-digital-pilot/19.1", "formula.bands.1.value_wan", 60, "19.1 level 3: ≤60万"),
    ("zs-2024-sme-digital-pilot/19.1", "formula.bands.2.value_wan", 100, "19.1 level 4: ≤100万"),
    ("zs-2025-ai-plus/21.2", "formula.rate", 0.1, "21.2 ≤10% of service revenue"),
    ("zs-2025-ai-plus/21.2", "cap_wan", 1000, "21.2 ≤1000万 per year"),
    ("gd-provincial-sme-support/22.1", "formula.rate", 0.5, "22.1 ≤50% of interest"),
    ("gd-provincial-sme-support/22.1", "cap_wan", 100, "22.1 ≤100万"),
    ("gd-provincial-sme-support/22.3", "formula.value_wan", 120, "22.3 单项冠军 120万"),
    ("zs-cuiheng-2022-warm-enterprise/23.1", "cap_wan", 1000, "23.1 ≤1000万"),
    ("zs-cuiheng-2022-warm-enterprise/23.2", "formula.value_wan", 100, "23.2 ≤100万"),
    ("zs-nantou-ecommerce/24.1", "formula.value_wan", 5, "24.1 首次纳统 5万"),
    ("zs-nantou-ecommerce/24.2", "cap_wan", 50, "24.2 ≤50万"),
]


def _dig(obj, path):
    for part in path.split("."):
        if isinstance(obj, list):
            obj = obj[int(part)]
        else:
            obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize(("item_id", "path", "expected", "row"), AMOUNT_FACTS, ids=[f[3] for f in AMOUNT_FACTS])
def test_amount_fact(kb, item_id, path, expected, row):
    assert _dig(_item(kb, item_id).amount, path) == pytest.approx(expected) if not isinstance(expected, str) \
        else _dig(_item(kb, item_id).amount, path) == expected


THRESHOLD_FACTS = [
    ("zs-2022-cross-border-ecommerce/3.1", ("cross_border_sales_usd_wan", "ge", 75), "upgrade", "3.1 75万美元"),
    ("zs-2023-sme-industrial/15.1", ("annual_revenue_wan", "ge", 1000), "condition", "15.1 营收 ≥1000万"),
    ("zs-2023-sme-industrial/15.3", ("newly_above_scale_year", "between", [2021, 2022]), "condition", "15.3 2021–2022 entrants"),
    ("zs-2023-sme-industrial/15.5", ("revenue_growth_pct", "ge", 30), "condition", "15.5 growth ≥30%"),
    ("gd-provincial-sme-support/22.1", ("loan_interest_wan", "ge", 30), "condition", "22.1 interest ≥30万"),
    ("zs-2024-sme-digital-pilot/19.1", ("digital_level", "ge", 2), "condition", "19.1 from level 2"),
]


@pytest.mark.parametrize(("item_id", "leaf", "where", "row"), THRESHOLD_FACTS, ids=[f[3] for f in THRESHOLD_FACTS])
def test_threshold_fact(kb, item_id, leaf, where, row):
    item = _item(kb, item_id)
    leaves = _leaves(item) if where == "condition" else [lf for up in item.amount.upgrades for lf in _rule_values(up.when)]
    assert tuple(leaf) in [tuple(lf) for lf in leaves]


DATE_FACTS = [
    ("zs-2022-digital-transformation", "issued", "2022-01-05"),
    ("zs-2022-effective-investment", "issued", "2022-02-14"),
    ("zs-2022-effective-investment", "doc_number", "中府函〔2022〕38号"),
    ("zs-2022-cross-border-ecommerce", "doc_number", "中府函〔2022〕40号"),
    ("zs-2022-industrial-park-renovation", "doc_number", "中府〔2022〕11号"),
    ("zs-2022-enterprise-listing", "doc_number", "中府〔2022〕15号"),
    ("zs-2023-leading-enterprises", "issued", "2023-05-06"),
    ("zs-2023-sme-industrial", "issued", "2023-07-24"),
    ("zs-2023-baizhan-qianqi", "validity.start", "2023-01-01"),
    ("zs-2023-baizhan-qianqi", "validity.end", "2023-12-31"),
    ("zs-2024-foreign-trade-fund", "validity.start", "2024-04-16"),
    ("zs-2024-foreign-trade-fund", "validity.end", "2024-05-27"),
    ("zs-2024-sme-digital-pilot", "validity.end", "2026-12-31"),
    ("zs-2024-sme-digital-pilot", "doc_number", "中工信规字〔2024〕5号"),
    ("zs-2025-ai-plus", "issued", "2025-02-21"),
    ("zs-2023-new-year-18", "validity.covered.end", "2023-03"),
]


@pytest.mark.parametrize(("policy_id", "path", "expected"), DATE_FACTS)
def test_record_fact(kb, policy_id, path, expected):
    assert _dig(kb.policy(policy_id), path) == expected


def test_bundled_relocation_rule_is_dated(kb):
    bundle = next(b for b in kb.policy("zs-2022-industrial-park-renovation").bundles if b.doc_number and "4号" in b.doc_number)
    assert "中工信规字〔2022〕4号" in bundle.doc_number
    assert bundle.date in {"2022-06-09", "2022-06-10"}


def test_unknowns_stay_unknown(kb):
    """Amounts the dossier does not document are null, never a guessed number."""
    for item_id in ["zs-2022-enterprise-listing/5.1", "zs-2022-tech-reform-fund/8.2", "zs-2022-tech-reform-fund/8.4",
                    "zs-2023-sme-industrial/15.4", "zs-2024-headquarters/20.2", "zs-2025-ai-plus/21.3",
                    "gd-provincial-sme-support/22.4", "zs-2022-digital-transformation/1.10"]:
        item = _item(kb, item_id)
        assert item.amount.kind == "undocumented", item_id
        assert item.amount.formula is None
    assert kb.policy("zs-2022-digital-transformation").doc_number is None


# --- New records from shared/research/policy-facts-2026-12.md (part A) ---------------------

NEW_AMOUNT_FACTS = [
    ("zs-park-cluster-digital-pilot/2.2.1", "cap_wan", 500, "2.2.1 园区数字化管理试点 ≤500万"),
    ("zs-park-cluster-digital-pilot/2.2.1", "formula.rate", 0.5, "2.2.1 ≤50% of total investment"),
    ("zs-park-cluster-digital-pilot/2.2.2", "formula.value_wan", 2000, "2.2.2 产业集群数字化转型试点 ≤2000万"),
    ("zs-theme-park-major-projects/2.3.1b", "formula.bands.0.min", 300000, "2.3.1b first threshold 30亿"),
    ("zs-theme-park-major-projects/2.3.1b", "formula.bands.-1.min", 5000000, "2.3.1b top threshold 500亿"),
    ("zs-theme-park-major-projects/2.3.1b", "formula.bands.-1.value_wan", 5000, "2.3.1b 500亿 → 5000万"),
    ("zs-theme-park-major-projects/2.3.1c", "formula.value_wan", 100, "2.3.1c ≤100万 per person per year"),
    ("zs-theme-park-major-projects/2.3.1c", "formula.count", 10, "2.3.1c ≤10 persons per firm"),
    ("zs-theme-park-major-projects/2.3.1c", "years", 3, "2.3.1c within 3 fiscal years"),
    ("zs-2025-new-energy/2.4.1", "formula.rate", 0.02, "2.4.1 ≤2% of new FAI"),
    ("zs-2025-new-energy/2.4.2", "formula.value_wan", 300, "2.4.2 ≤300万"),
    ("zs-2025-new-energy/2.4.3", "formula.value_wan", 500, "2.4.3 示范工厂 ≤500万"),
    ("zs-2025-new-energy/2.4.4", "formula.rate", 0.2, "2.4.4 ≤20% of equipment and software"),
    ("zs-2025-new-energy/2.4.4", "cap_wan", 2000, "2.4.4 ≤2000万 per project"),
    ("zs-2024-individual-to-enterprise/2.6.2a", "formula.value_wan", 0.3, "2.6.2 basic reward 3000元"),
    ("zs-2024-individual-to-enterprise/2.6.2a", "guaranteed", True, "2.6.2 basic reward is fixed"),
    ("zs-2024-individual-to-enterprise/2.6.2b", "formula.value_wan", 3, "2.6.2 contribution reward ≤30000元"),
]


@pytest.mark.parametrize(("item_id", "path", "expected", "row"), NEW_AMOUNT_FACTS, ids=[f[3] for f in NEW_AMOUNT_FACTS])
def test_new_amount_fact(kb, item_id, path, expected, row):
    assert _dig(_item(kb, item_id).amount, path) == pytest.approx(expected)


NEW_THRESHOLD_FACTS = [
    ("zs-theme-park-major-projects/2.3.1a", ("planned_investment_wan", "ge", 100000), "2.3.1 new FAI ≥10亿"),
    ("zs-theme-park-major-projects/2.3.1b", ("annual_revenue_wan", "ge", 300000), "2.3.1b revenue ≥30亿"),
    ("zs-theme-park-major-projects/2.3.1a", ("sector", "eq", "C"), "2.3.1 manufacturing projects"),
    ("zs-2025-stabilize-foreign-trade/2.5.2a", ("qualifications", "has_any", ["广东省外贸骨干企业"]), "2.5.2 外贸骨干企业"),
    ("zs-2022-small-service-firm-awards/2.6.1a", ("employees", "lt", 300), "2.6.1 小微: services small-firm head-count bound"),
    ("zs-2022-small-service-firm-awards/2.6.1a", ("annual_revenue_wan", "lt", 5000), "2.6.1 小微: services small-firm revenue bound"),
    ("gd-tech-sme-evaluation/2.7.4", ("qualifications", "has_none", ["科技型中小企业"]), "2.7.4 not yet registered"),
]


@pytest.mark.parametrize(("item_id", "leaf", "row"), NEW_THRESHOLD_FACTS, ids=[f[2] for f in NEW_THRESHOLD_FACTS])
def test_new_threshold_fact(kb, item_id, leaf, row):
    assert tuple(leaf) in [tuple(lf) for lf in _leaves(_item(kb, item_id))]


NEW_RECORD_FACTS = [
    ("zs-2024-equipment-renewal", "doc_number", "中府〔2024〕66号"),
    ("zs-2024-equipment-renewal", "issued", "2024-04-30"),
    ("zs-2024-low-altitude-economy", "doc_number", "中府办〔2024〕22号"),
    ("zs-2024-low-altitude-economy", "issued", "2024-07-01"),
    ("zs-2024-low-altitude-economy", "validity.end", "2027"),
    ("zs-2024-high-end-equipment", "validity.start", "2024"),
    ("zs-2024-high-end-equipment", "validity.end", "2026"),
    ("zs-2025-new-energy", "validity.start", "2025-02-12"),
    ("zs-2025-new-energy", "validity.end", "2025-12-31"),
    ("zs-2025-specialized-sme", "validity.end", "2025-12-31"),
    ("zs-2024-individual-to-enterprise", "validity.start", "2024-05-22"),
    ("zs-2024-individual-to-enterprise", "validity.end", "2024-12-31"),
    ("zs-2025-stabilize-foreign-trade", "issued", "2025-04-15"),
    ("zs-2022-small-service-firm-awards", "issued", "2022-06-22"),
    ("gd-environmental-equipment-standard-conditions", "doc_number", "粤工信节能函〔2025〕5号"),
    ("gd-environmental-equipment-standard-conditions", "validity.windows.0.end", "2025-03-19"),
    ("gd-2025-inclusive-manufacturing-investment-award", "validity.intakes", [2022, 2024, 2025]),
    ("gd-enterprise-technology-center", "contact.phone", "88315757"),
    ("zs-ecommerce-acceleration", "contact.phone", "0760-28330190"),
]


@pytest.mark.parametrize(("policy_id", "path", "expected"), NEW_RECORD_FACTS)
def test_new_record_fact(kb, policy_id, path, expected):
    assert _dig(kb.policy(policy_id), path) == expected


@pytest.mark.parametrize(("policy_id", "validity", "deadline"), [
    ("zs-2025-new-energy", "expired", None),             # ended 2025-12-31
    ("zs-2025-specialized-sme", "expired", None),
    ("zs-2024-individual-to-enterprise", "expired", None),
    ("zs-2025-stabilize-foreign-trade", "expired", None),  # a 2025 year list
    ("zs-2025-consumption-boost", "expired", None),
    ("zs-2024-high-end-equipment", "current", "2026-12-31"),
    ("zs-2024-low-altitude-economy", "current", "2027-12-31"),
    ("zs-2024-equipment-renewal", "current", "2027-12-31"),
    ("gd-2025-inclusive-manufacturing-investment-award", "unknown", None),  # last round called 2025
    ("gd-enterprise-technology-center", "unknown", None),
    ("zs-theme-park-major-projects", "unknown", None),
])
def test_new_record_validity_on_2026_12_01(kb, policy_id, validity, deadline):
    from datetime import date

    from policy_match.validity import record_validity

    status = record_validity(kb.policy(policy_id), date(2026, 12, 1))
    assert status.validity == validity, status.note
    assert (status.deadline.isoformat() if status.deadline else None) == deadline
    assert status.note and "有效期待确认" not in status.note


def test_new_unknowns_stay_unknown(kb):
    """Undocumented figures in the new records are null, never a guess (e.g. the 13条 'up to 2 billion')."""
    for item_id in ["zs-theme-park-major-projects/2.3.1a", "zs-theme-park-major-projects/2.3.1d",
                    "gd-2025-inclusive-manufacturing-investment-award/2.3.5", "zs-2025-new-energy/2.4.5",
                    "zs-2025-stabilize-foreign-trade/2.5.1", "zs-2025-stabilize-foreign-trade/2.5.2a",
                    "zs-ecommerce-acceleration/2.5.5", "zs-2022-small-service-firm-awards/2.6.1a",
                    "zs-2025-specialized-sme/O.11"]:
        item = _item(kb, item_id)
        assert item.amount.kind == "undocumented", item_id
        assert item.amount.formula is None
    bands = _item(kb, "zs-theme-park-major-projects/2.3.1b").amount.formula.bands
    assert bands[0].value_wan is None  # the middle steps of this document are not published


# --- new records of policy-facts-2026-12.md, part B (town and functional-zone policies, talent,
# the 2017–2021 rules). Item numbers are the research file's row numbers; a letter marks one of
# several measures in the same row (2.8.12a …), and unnumbered table rows count from the top
# (§1.2 row 2 → 1.2.2).

NEW_B_AMOUNT_FACTS = [
    ("zs-torch-2023-industrial-support/2.8.1", "formula.value_wan", 5000, "2.8.1 火炬 HQ ≤5000万"),
    ("zs-torch-2023-industrial-support/2.8.2", "formula.value_wan", 500, "2.8.2 talent start-up ≤500万"),
    ("zs-torch-2023-industrial-support/2.8.3", "formula.value_wan", 7800, "2.8.3 category-1 drug ≤7800万"),
    ("zs-torch-2023-industrial-support/2.8.4", "formula.value_wan", 5000, "2.8.4 devices ≤5000万"),
    ("zs-torch-2023-industrial-support/2.8.5", "formula.value_wan", 400, "2.8.5 rent ≤400万/year"),
    ("zs-torch-2023-industrial-support/2.8.6a", "formula.value_wan", 800, "2.8.6 national centres ≤800万"),
    ("zs-torch-2023-industrial-support/2.8.6b", "formula.value_wan", 500, "2.8.6 national labs ≤500万"),
    ("zs-cuiheng-2022-advanced-manufacturing/2.8.8a", "formula.rate", 1.0, "2.8.8 100% of local contribution"),
    ("zs-cuiheng-2022-advanced-manufacturing/2.8.8a", "cap_wan", 5000, "2.8.8 ≤5000万 per project"),
    ("zs-cuiheng-2022-advanced-manufacturing/2.8.8b", "formula.value_wan", 600, "2.8.8 rent ≤600万/year"),
    ("zs-cuiheng-2021-economic-acceleration/2.8.9a", "formula.value_wan", 300, "2.8.9 经济加速 ≤300万"),
    ("zs-cuiheng-2023-innovative-drugs/2.8.9c", "formula.value_wan", 10000, "2.8.9 创新药物 ≤1亿"),
    ("zs-cuiheng-2022-health-medicine/2.8.11a", "formula.value_wan", 3000, "2.8.11 top-500 2000–3000万"),
    ("zs-cuiheng-2022-health-medicine/2.8.11b", "formula.value_wan", 4000, "2.8.11 drug R&D 4000万"),
    ("zs-cuiheng-2022-health-medicine/2.8.11c", "formula.value_wan", 10000, "2.8.11 case by case ≤1亿"),
    ("zs-xiaolan-2018-support/2.8.12a", "formula.value_wan", 100, "2.8.12 IPO ≤100万"),
    ("zs-xiaolan-2018-support/2.8.12b", "formula.value_wan", 50, "2.8.12 新三板 股改 50万"),
    ("zs-xiaolan-2018-support/2.8.12c", "formula.value_wan", 30, "2.8.12 新三板 accepted 30万"),
    ("zs-xiaolan-2018-support/2.8.12d", "formula.rate", 0.02, "2.8.12 financing 2%"),
    ("zs-xiaolan-2018-support/2.8.12d", "cap_wan", 50, "2.8.12 financing ≤50万"),
    ("zs-xiaolan-2018-support/2.8.12e", "formula.rate", 0.15, "2.8.12 节能改造 15%"),
    ("zs-xiaolan-2018-support/2.8.12e", "cap_wan", 30, "2.8.12 节能改造 ≤30万/year"),
    ("zs-xiaolan-2018-support/2.8.12f", "formula.value_wan", 5, "2.8.12 provincial 清洁生产 5万"),
    ("zs-xiaolan-2018-support/2.8.12g", "formula.value_wan", 3, "2.8.12 city 清洁生产 3万"),
    ("zs-xiaolan-2018-support/2.8.12h", "formula.bands.0.value_wan", 30, "2.8.12 保密资格 一级 30万"),
    ("zs-xiaolan-2018-support/2.8.12h", "formula.bands.1.value_wan", 20, "2.8.12 保密资格 二级 20万"),
    ("zs-xiaolan-2018-support/2.8.12h", "formula.bands.2.value_wan", 10, "2.8.12 保密资格 三级 10万"),
    ("zs-xiaolan-2018-support/2.8.12i", "formula.value_wan", 20, "2.8.12 质量体系 20万"),
    ("zs-cuiheng-2022-talent/2.9.1a", "formula.value_wan", 360, "2.9.1 housing ≤360万 over 3 years"),
    ("zs-cuiheng-2022-talent/2.9.1b", "formula.value_wan", 0.4, "2.9.1 allowance 4000元/月"),
    ("zs-cuiheng-2022-talent/2.9.1b", "formula.count", 12, "2.9.1 allowance 12 months a year"),
    ("zs-cuiheng-2022-talent/2.9.1b", "years", 3, "2.9.1 allowance 3 years"),
    ("zs-cuiheng-2022-talent/2.9.1c", "formula.value_wan", 150, "2.9.1 院士工作站 ≤150万"),
    ("zs-cuiheng-2022-talent/2.9.1d", "formula.value_wan", 100, "2.9.1 firms introducing talent ≤100万"),
    ("zs-cuiheng-2022-talent/2.9.1e", "formula.value_wan", 30, "2.9.1 flexible talent ≤30万/year"),
    ("zs-talent-support-measures/2.9.2a", "formula.value_wan", 1, "2.9.2 graduates one-time 1万"),
    ("zs-talent-support-measures/2.9.2a", "guaranteed", True, "2.9.2 fixed 1万 per person"),
    ("zs-2017-high-tech-enterprise-fund/1.2.2a", "formula.value_wan", 20, "1.2 国家高企 20万"),
    ("zs-2017-high-tech-enterprise-fund/1.2.2b", "formula.value_wan", 5, "1.2 省高企培育库 5万"),
    ("zs-2017-high-tech-enterprise-fund/1.2.2c", "formula.value_wan", 60, "1.2 revenue ≥2000万 60万"),
    ("zs-headquarters-recognition-rules/2.3.3a", "formula.rate", 1.0, "2.3.3 scheme A 100% in years 1–3"),
    ("zs-headquarters-recognition-rules/2.3.3a", "years", 3, "2.3.3 scheme A years 1–3"),
    ("zs-2018-energy-saving-circular-economy/2.10.2a", "formula.value_wan", 20, "2.10 green factory ≤20万"),
    ("zs-2018-energy-saving-circular-economy/2.10.2c", "formula.value_wan", 30, "2.10 green supply chain ≤30万"),
    ("zs-2018-energy-saving-circular-economy/2.10.2d", "formula.value_wan", 5, "2.10 green product ≤5万 each"),
    ("zs-2018-energy-saving-circular-economy/2.10.2d", "cap_total_wan", 30, "2.10 ≤30万 per firm"),
    ("zs-2018-energy-saving-circular-economy/2.10.2e", "formula.rate", 0.3, "2.10 energy centre 30%"),
    ("zs-2018-energy-saving-circular-economy/2.10.2e", "cap_wan", 10, "2.10 energy centre ≤10万"),
    ("zs-2019-tech-incubation-fund-draft/2.10.3a", "formula.value_wan", 100, "2.10 overseas incubator ≤100万"),
    ("zs-2019-tech-incubation-fund-draft/2.10.3d", "formula.value_wan", 500, "2.10 tech park ≤500万/year"),
    ("zs-2019-tech-incubation-fund-draft/2.10.3e", "formula.value_wan", 100, "2.10 provincial high-tech zone 100万"),
    ("zs-2018-industrial-park-upgrading-draft/2.10.4", "formula.value_wan", 800, "2.10 park public service ≤800万"),
    ("zs-2019-headquarters-opinions-draft/2.10.5b", "formula.value_wan", 10000, "2.10 HQ draft ≤1亿"),
    ("zs-2017-investment-intermediary-reward/2.10.6", "formula.rate", 0.01, "2.10 referral 1% of capital"),
    ("zs-2017-investment-intermediary-reward/2.10.6", "cap_wan", 1000, "2.10 referral ≤1000万"),
    ("zs-sei-innovation-platform-rules/2.10.7", "formula.value_wan", 300, "2.10 national lab equipment 300万"),
]


@pytest.mark.parametrize(("item_id", "path", "expected", "row"), NEW_B_AMOUNT_FACTS,
                         ids=[f[3] for f in NEW_B_AMOUNT_FACTS])
def test_new_b_amount_fact(kb, item_id, path, expected, row):
    assert _dig(_item(kb, item_id).amount, path) == pytest.approx(expected)


NEW_B_THRESHOLD_FACTS = [
    ("zs-cuiheng-2022-advanced-manufacturing/2.8.8a", ("planned_investment_wan", "ge", 1000), "2.8.8 FAI ≥1000万"),
    ("zs-cuiheng-2022-advanced-manufacturing/2.8.8b", ("annual_revenue_wan", "gt", 5000), "2.8.8 revenue >5000万"),
    ("zs-2017-high-tech-enterprise-fund/1.2.2c", ("annual_revenue_wan", "ge", 2000), "1.2 revenue ≥2000万"),
    ("zs-torch-2023-industrial-support/2.8.5", ("sector", "eq", "Q"), "2.8.5 medical institutions"),
]


@pytest.mark.parametrize(("item_id", "leaf", "row"), NEW_B_THRESHOLD_FACTS, ids=[f[2] for f in NEW_B_THRESHOLD_FACTS])
def test_new_b_threshold_fact(kb, item_id, leaf, row):
    assert tuple(leaf) in [tuple(lf) for lf in _leaves(_item(kb, item_id))]


NEW_B_RECORD_FACTS = [
    ("zs-torch-2023-industrial-support", "validity.start", "2023-01-01"),
    ("zs-torch-2023-industrial-support", "validity.end", "2025-12-31"),
    ("zs-torch-2023-industrial-support", "town_scope", ["火炬开发区"]),
    ("zs-2022-new-year-warm-9", "issued", "2022-02-07"),
    ("zs-2022-new-year-warm-9", "validity.ended", True),
    ("zs-2017-high-tech-enterprise-fund", "issued", "2017-08-21"),
    ("zs-gangkou-headquarters-topup", "issued", "2024-07-15"),
    ("zs-gangkou-headquarters-topup", "validity.intakes", [2024]),
    ("zs-gangkou-headquarters-topup", "town_scope", ["港口镇"]),
    ("zs-cuiheng-2022-talent", "validity.windows.0.start", "2022-09-01"),
    ("zs-cuiheng-2022-talent", "validity.windows.0.end", "2022-09-15"),
    ("zs-cuiheng-2022-talent", "town_scope", ["翠亨新区", "南朗街道"]),
    ("zs-cuiheng-2022-advanced-manufacturing", "issued", "2022-04"),
    ("zs-cuiheng-2021-economic-acceleration", "issued", "2021-10"),
    ("zs-cuiheng-2023-innovative-drugs", "issued", "2023-05"),
    ("zs-xiaolan-2018-support", "town_scope", ["小榄镇"]),
    ("zs-2021-industrial-green-development", "issued", "2021-07-28"),
    ("zs-2021-industrial-green-development", "contact.people", "陈伟军"),
    ("zs-2021-industrial-green-development", "contact.phone", "88329004"),
    ("zs-2019-tech-incubation-fund-draft", "validity.document_status", "draft"),
    ("zs-2017-investment-intermediary-reward", "validity.start", "2017-01-01"),
]


@pytest.mark.parametrize(("policy_id", "path", "expected"), NEW_B_RECORD_FACTS)
def test_new_b_record_fact(kb, policy_id, path, expected):
    assert _dig(kb.policy(policy_id), path) == expected


def test_new_b_successors_are_named(kb):
    assert "中府〔2024〕192号" in kb.policy("zs-headquarters-recognition-rules").validity.superseded_by
    assert "中府办〔2023〕9号" in kb.policy("zs-2020-leading-enterprises").validity.superseded_by


def test_new_b_gangkou_exclusion_is_a_condition(kb):
    """港口: a recipient may not apply for other town rewards for 2 years — an exclusion, not prose."""
    item = _item(kb, "zs-gangkou-headquarters-topup/2.3.4")
    assert [c.text for c in item.conditions if c.kind == "exclusion"] == ["获得本奖励后两年内不得申请镇内其他奖励资金"]


def test_new_b_unknowns_stay_unknown(kb):
    for item_id in ["zs-gangkou-headquarters-topup/2.3.4", "zs-headquarters-recognition-rules/2.3.3b",
                    "zs-cuiheng-2022-advanced-manufacturing/2.8.8c", "zs-2022-new-year-warm-9/1.1.3a",
                    "zs-2020-leading-enterprises/1.2.1", "zs-2017-high-tech-enterprise-fund/1.2.2d",
                    "zs-2021-industrial-green-development/2.10.1"]:
        item = _item(kb, item_id)
        assert item.amount.kind == "undocumented", item_id
        assert item.amount.formula is None


NEW_B_VALIDITY_AT_2026_12_01 = [
    ("zs-torch-2023-industrial-support", "expired", "2025-12-31"),
    ("zs-cuiheng-2022-talent", "expired", "仅见2022年申报通知"),
    ("zs-gangkou-headquarters-topup", "expired", "仅见2024年申报通知"),
    ("zs-headquarters-recognition-rules", "expired", "中府〔2024〕192号"),
    ("zs-2020-leading-enterprises", "expired", "中府办〔2023〕9号"),
    ("zs-2017-high-tech-enterprise-fund", "expired", "2020"),
    ("zs-xiaolan-2018-support", "expired", "历史规则"),
    ("zs-2019-tech-incubation-fund-draft", "expired", "征求意见稿"),
    ("zs-cuiheng-2022-advanced-manufacturing", "unknown", "翠亨新区"),
    ("zs-talent-support-measures", "unknown", "高校毕业生"),
]


@pytest.mark.parametrize(("policy_id", "validity", "in_note"), NEW_B_VALIDITY_AT_2026_12_01)
def test_new_b_validity_at_2026_12_01(kb, policy_id, validity, in_note):
    from datetime import date

    from policy_match.validity import record_validity

    status = record_validity(kb.policy(policy_id), date(2026, 12, 1))
    assert status.validity == validity
    assert in_note in status.note
