"""Vocabularies and field metadata fixed by the contract (shared/contract/README.md).

Kept apart from the pydantic models so that rules, amounts, the CLI and the app can
label a field ("上年度营业收入", "万元") without importing the whole schema.
"""

from __future__ import annotations

from dataclasses import dataclass

TOWNS: tuple[str, ...] = (
    "石岐街道", "东区街道", "西区街道", "南区街道", "五桂山街道", "中山港街道", "民众街道",
    "南朗街道", "黄圃镇", "东凤镇", "古镇镇", "沙溪镇", "坦洲镇", "港口镇", "三角镇", "横栏镇",
    "南头镇", "阜沙镇", "三乡镇", "板芙镇", "大涌镇", "神湾镇", "小榄镇", "火炬开发区", "翠亨新区",
)

# What people actually type in a form or a spreadsheet, mapped to the contract's names.
TOWN_ALIASES: dict[str, str] = {
    "火炬区": "火炬开发区", "火炬": "火炬开发区", "中山火炬开发区": "火炬开发区",
    "火炬高技术产业开发区": "火炬开发区", "中山火炬高技术产业开发区": "火炬开发区",
    "翠亨": "翠亨新区", "古镇": "古镇镇", "石岐": "石岐街道", "石岐区": "石岐街道",
    "东区": "东区街道", "西区": "西区街道", "南区": "南区街道", "五桂山": "五桂山街道",
    "中山港": "中山港街道", "民众": "民众街道", "民众镇": "民众街道", "南朗": "南朗街道",
    "南朗镇": "南朗街道",
}
for _t in TOWNS:
    if _t.endswith("镇") and len(_t) > 2:
        TOWN_ALIASES.setdefault(_t[:-1], _t)

SECTORS: dict[str, str] = {
    "A": "农、林、牧、渔业", "B": "采矿业", "C": "制造业",
    "D": "电力、热力、燃气及水生产和供应业", "E": "建筑业", "F": "批发和零售业",
    "G": "交通运输、仓储和邮政业", "H": "住宿和餐饮业", "I": "信息传输、软件和信息技术服务业",
    "J": "金融业", "K": "房地产业", "L": "租赁和商务服务业", "M": "科学研究和技术服务业",
    "N": "水利、环境和公共设施管理业", "O": "居民服务、修理和其他服务业", "P": "教育",
    "Q": "卫生和社会工作", "R": "文化、体育和娱乐业", "S": "公共管理、社会保障和社会组织",
    "T": "国际组织",
}

QUALIFICATIONS: tuple[str, ...] = (
    "高新技术企业", "科技型中小企业", "创新型中小企业", "市级专精特新培育企业", "专精特新中小企业",
    "专精特新“小巨人”企业", "市级单项冠军培育企业", "制造业单项冠军企业", "制造业龙头骨干企业",
    "龙头骨干培育库企业", "领军企业", "总部企业", "上市后备企业", "广东省外贸骨干企业",
    "数字化智能化示范工厂", "数字化智能化示范车间", "人工智能赋能平台", "跨境电商产业园运营主体",
)

# Not in the contract: who the firm is as an applicant, for items whose applicant is not an
# ordinary enterprise (platform or park operators). Without it such items count in no firm's money.
OPERATOR_ROLES: tuple[str, ...] = (
    "工业互联网平台或数字化服务平台运营方", "产业园区运营方", "电商直播基地运营方", "电子商务平台企业",
)

# 规模以上工业企业: 年主营业务收入 2000万元 (contract §2); the other sectors' thresholds are not in the data.
INDUSTRY_ABOVE_SCALE_WAN = 2000.0
INDUSTRY_SECTORS = frozenset({"B", "C", "D"})

QUALIFICATION_ALIASES: dict[str, str] = {
    "高企": "高新技术企业", "国家高新技术企业": "高新技术企业", "国高": "高新技术企业",
    "科技型中小": "科技型中小企业", "小巨人": "专精特新“小巨人”企业",
    "专精特新小巨人": "专精特新“小巨人”企业", "专精特新\"小巨人\"企业": "专精特新“小巨人”企业",
    "专精特新小巨人企业": "专精特新“小巨人”企业", "国家级专精特新小巨人": "专精特新“小巨人”企业",
    "省级专精特新中小企业": "专精特新中小企业", "省专精特新": "专精特新中小企业",
    "单项冠军": "制造业单项冠军企业", "龙头骨干企业": "制造业龙头骨干企业",
    "示范工厂": "数字化智能化示范工厂", "示范车间": "数字化智能化示范车间",
}

LISTING_STAGES: dict[str, str] = {
    "none": "未启动上市", "shareholding_reform": "已完成股改", "tutoring": "辅导备案",
    "application_accepted": "申报受理", "listed_domestic": "境内上市",
    "listed_overseas": "境外上市", "neeq": "新三板挂牌",
}
LISTING_STAGE_ALIASES: dict[str, str] = {
    **{label: key for key, label in LISTING_STAGES.items()},
    "无": "none", "未上市": "none", "股改": "shareholding_reform", "已股改": "shareholding_reform",
    "辅导": "tutoring", "已辅导备案": "tutoring", "受理": "application_accepted",
    "已受理": "application_accepted", "境内上市公司": "listed_domestic", "上市": "listed_domestic",
    "境外上市公司": "listed_overseas", "新三板": "neeq",
}


@dataclass(frozen=True)
class FieldInfo:
    name: str
    label: str
    kind: str  # str | bool | int | float | list | choice
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None


# Upper bounds catch typing slips (元 typed into a 万元 box, an extra zero run) without
# rejecting real giants: 1亿万元 = 1万亿元 is above any Zhongshan firm's revenue.
PROFILE_FIELDS: dict[str, FieldInfo] = {
    f.name: f
    for f in [
        FieldInfo("name", "企业名称", "str"),
        FieldInfo("credit_code", "统一社会信用代码", "str"),
        FieldInfo("town", "所在镇街", "choice"),
        FieldInfo("registered_in_zhongshan", "注册地、经营地、纳税地均在中山", "bool"),
        FieldInfo("founded_year", "成立年份", "int", "年", 1900, 2100),
        FieldInfo("sector", "行业门类", "choice"),
        FieldInfo("industry", "主营业务", "str"),
        FieldInfo("above_scale", "规模以上企业", "bool"),
        FieldInfo("newly_above_scale_year", "首次升规年份", "int", "年", 1990, 2100),
        FieldInfo("annual_revenue_wan", "上年度营业收入", "float", "万元", 0, 1e8),
        FieldInfo("revenue_growth_pct", "上年度营业收入同比增长", "float", "%", -100, 1e5),
        FieldInfo("employees", "从业人数", "int", "人", 0, 1e6),
        FieldInfo("paid_in_capital_wan", "实缴注册资本", "float", "万元", 0, 1e8),
        FieldInfo("local_contribution_wan", "上年度地方经济贡献", "float", "万元", 0, 1e7),
        FieldInfo("rd_expense_wan", "上年度研发费用", "float", "万元", 0, 1e7),
        FieldInfo("qualifications", "资质与认定", "list"),
        FieldInfo("listing_stage", "上市进程", "choice"),
        FieldInfo("operator_roles", "平台或园区运营主体身份", "list"),
        FieldInfo("credit_ok", "无失信、经营异常及近三年严重违法记录", "bool"),
        FieldInfo("plans", "发展计划与需求", "str"),
        FieldInfo("planned_investment_wan", "计划固定资产投资", "float", "万元", 0, 1e8),
        FieldInfo("equipment_software_investment_wan", "设备和软件投入", "float", "万元", 0, 1e8),
        FieldInfo("loan_interest_wan", "项目贷款年利息支出", "float", "万元", 0, 1e7),
        FieldInfo("buying_land_first_time", "首次在本市购置土地", "bool"),
        FieldInfo("relocating_from_renovation_area", "因工改搬迁", "bool"),
        FieldInfo("leased_area_m2", "搬迁后新址租赁面积", "float", "㎡", 0, 1e7),
        FieldInfo("digital_level", "数字化水平等级", "int", "级", 1, 4),
        FieldInfo("cross_border_ecommerce", "从事跨境电商", "bool"),
        FieldInfo("cross_border_sales_usd_wan", "上年度跨境电商交易额", "float", "万美元", 0, 1e7),
        FieldInfo("independent_site_fee_wan", "独立站年服务费/建站装修费", "float", "万元", 0, 1e6),
        FieldInfo("overseas_marketing_wan", "境外数字营销推广费用", "float", "万元", 0, 1e6),
    ]
}

NUMERIC_KINDS = {"int", "float"}
LIST_VOCABULARIES: dict[str, tuple[str, ...]] = {"qualifications": QUALIFICATIONS, "operator_roles": OPERATOR_ROLES}


def field_label(name: str) -> str:
    info = PROFILE_FIELDS.get(name)
    return info.label if info else name


def format_value(name: str, value: object) -> str:
    """Show a profile value the way a Chinese reader expects: 1500万元, 是/否, 35%."""
    info = PROFILE_FIELDS.get(name)
    if value is None:
        return "未填写"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, (list, tuple)):
        return "、".join(map(str, value)) if value else "无"
    if name == "sector" and isinstance(value, str):
        return f"{value}（{SECTORS.get(value, '')}）"
    if name == "listing_stage" and isinstance(value, str):
        return LISTING_STAGES.get(value, value)
    if isinstance(value, float):
        text = f"{value:.2f}".rstrip("0").rstrip(".")
    else:
        text = str(value)
    if info and info.unit:
        if info.unit == "万元":
            if isinstance(value, (int, float)) and abs(value) >= 10000:
                yi = f"{value / 10000:.4f}".rstrip("0").rstrip(".")
                return f"{yi}亿"  # 200000万 reads as 20亿
            return f"{text}万"
        if info.unit == "年":
            return f"{text}年"
        return f"{text}{info.unit}"
    return text


# The order a firm fills its profile in (the app's form and the batch template): sections of rows,
# the fields of a row side by side — pairs that belong together (因工改搬迁 and the area leased
# after it), so that a phone, which stacks a row's fields, still shows them one after the other.
FORM_SECTIONS: dict[str, tuple[tuple[str, ...], ...]] = {
    "基本信息": (("name",), ("town", "sector"), ("industry", "founded_year"),
             ("registered_in_zhongshan", "credit_code")),
    "规模与经营": (("above_scale", "newly_above_scale_year"), ("annual_revenue_wan", "revenue_growth_pct"),
              ("employees", "paid_in_capital_wan"), ("rd_expense_wan", "local_contribution_wan")),
    "资质与信用": (("qualifications",), ("listing_stage", "credit_ok")),
    "发展计划与投资": (("plans",), ("planned_investment_wan", "buying_land_first_time"),
                ("equipment_software_investment_wan", "digital_level"),
                ("relocating_from_renovation_area", "leased_area_m2"), ("loan_interest_wan",)),
    "跨境电商": (("cross_border_ecommerce", "cross_border_sales_usd_wan"),
             ("independent_site_fee_wan", "overseas_marketing_wan")),
}
FORM_ORDER: tuple[str, ...] = tuple(name for rows in FORM_SECTIONS.values() for row in rows for name in row)

# What a field means, where its label alone does not say it (the form's help, the template's 说明).
FIELD_HELP: dict[str, str] = {
    "registered_in_zhongshan": "注册地、经营地、纳税地均在中山市",
    "sector": "国民经济行业分类（GB/T 4754-2017）门类",
    "industry": "例如：灯饰照明制造、五金制品、跨境电商",
    "above_scale": "工业：年主营业务收入 2000 万元及以上；批零住餐为限额以上；服务业为规模以上",
    "newly_above_scale_year": "首次纳入规上统计名录的年份",
    "revenue_growth_pct": "百分数：增长 35% 填 35，下降 10% 填 -10",
    "local_contribution_wan": "市、镇两级财政分成的税收合计",
    "credit_ok": "未被列入失信、经营异常名录，近三年无重大违法记录",
    "plans": "用自己的话写：扩产、上设备、上 MES/ERP、买地、搬迁、融资、上市、出口……写得越具体，推荐越准",
    "equipment_software_investment_wan": "计划项目中设备和软件的投入",
    "relocating_from_renovation_area": "因村镇低效工业园改造（工改）需要搬迁",
    "leased_area_m2": "搬迁后在新址租赁的厂房面积",
    "digital_level": "数字化改造后达到的数字化水平等级（1–4 级）",
    "cross_border_sales_usd_wan": "单位：万美元",
    "independent_site_fee_wan": "独立站 SaaS 年服务费或建站装修费",
    "operator_roles": "只有平台或园区的运营方才填（普通企业不填）",
}


def field_heading(name: str) -> str:
    """A field's label with its unit, as a form box or a template column is headed:
    "上年度营业收入（万元）", "从业人数（人）", "成立年份"."""
    info = PROFILE_FIELDS[name]
    if info.kind in NUMERIC_KINDS and info.unit and info.unit not in {"年", "级"}:
        return f"{info.label}（{info.unit}）"
    return info.label
