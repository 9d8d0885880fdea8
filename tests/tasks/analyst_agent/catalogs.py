"""Small hand-made catalogs for the catalog-search tests: each one built so that one signal decides."""

from __future__ import annotations

from connectors.catalog import (
    Catalog,
    Column,
    ColumnProfile,
    Database,
    ForeignKey,
    Schema,
    Table,
    TableProfile,
    ValueCount,
)


def col(name: str, kind: str = "string", i: int = 1) -> Column:
    data_type = {"string": "text", "integer": "integer", "float": "real"}[kind]
    return Column(ordinal=i, name=name, data_type=data_type, normalized_type=kind)  # type: ignore[arg-type]


def table(
    name: str,
    columns: list[str],
    *,
    pk: list[str] | None = None,
    fks: list[ForeignKey] | None = None,
    comment: str | None = None,
    kind: str = "table",
    view_definition: str | None = None,
) -> Table:
    return Table(
        name=name,
        kind=kind,  # type: ignore[arg-type]
        columns=[col(c, "integer" if c.lower().endswith("id") else "string", i + 1) for i, c in enumerate(columns)],
        primary_key=pk or [],
        foreign_keys=fks or [],
        comment=comment,
        view_definition=view_definition,
    )


def catalog(*schemas: tuple[str, list[Table]], database: str = "shop") -> Catalog:
    return Catalog(
        source_type="test", databases=[Database(name=database, schemas=[Schema(name=n, tables=t) for n, t in schemas])]
    )


def fk(column: str, table_name: str, referred: str) -> ForeignKey:
    return ForeignKey(columns=[column], referred_table=table_name, referred_columns=[referred])


def hr_catalog() -> Catalog:
    """Names in every style: snake_case, camelCase, plurals, abbreviations."""
    return catalog(
        (
            "hr",
            [
                table("employees", ["employee_id", "first_name", "annualSalary", "dept_id"], pk=["employee_id"]),
                table("Departments", ["DeptId", "DeptName", "budgetAmt"], pk=["DeptId"]),
                table("office_locations", ["location_id", "city", "country"], pk=["location_id"]),
                table("payroll_runs", ["run_id", "runDate", "totalGross"], pk=["run_id"]),
            ],
        ),
    )


def music_catalog(declared: bool = True) -> Catalog:
    """Singers, concerts, and the table that joins them. With declared keys the joining table shares no word with a
    question about singers and concerts (only the keys tie it to them); without, its `*_id` columns must."""
    if declared:
        appearance = table(
            "appearance",
            ["appearance_id", "performer_ref", "show_ref", "fee"],
            pk=["appearance_id"],
            fks=[fk("performer_ref", "singer", "singer_id"), fk("show_ref", "concert", "concert_id")],
        )
    else:
        appearance = table("appearance", ["appearance_id", "singer_id", "concert_id", "fee"], pk=["appearance_id"])
    return catalog(
        (
            "music",
            [
                table("singer", ["singer_id", "name", "country", "age"], pk=["singer_id"]),
                table("concert", ["concert_id", "title", "year", "venue"], pk=["concert_id"]),
                appearance,
                table("label", ["label_id", "label_name", "founded"], pk=["label_id"]),
                table("concert_hall_bookings", ["booking_id", "hall", "booked_on"], pk=["booking_id"]),
                table("singer_biographies", ["biography_id", "text"], pk=["biography_id"]),
            ],
        ),
        database="music",
    )


def sales_catalog() -> Catalog:
    """Two schemas; the region names are only known from values."""
    return catalog(
        (
            "sales",
            [
                table("orders", ["order_id", "customer_id", "status", "total"], pk=["order_id"]),
                table("customers", ["customer_id", "full_name", "region_code"], pk=["customer_id"]),
                table("zones", ["zone_code", "label"], pk=["zone_code"]),
            ],
        ),
        (
            "ops",
            [
                table("warehouses", ["warehouse_id", "site"], pk=["warehouse_id"]),
                table("shipments", ["shipment_id", "warehouse_id", "carrier"], pk=["shipment_id"]),
            ],
        ),
    )


def zones_profile() -> TableProfile:
    return TableProfile(
        database="shop",
        schema="sales",
        table="zones",
        sampled_rows=4,
        sample_method="full",
        columns=[
            ColumnProfile(
                name="label",
                data_type="text",
                normalized_type="string",
                distinct_count=4,
                top_values=[
                    ValueCount(value=v, count=1) for v in ("Northern Europe", "Asia Pacific", "Latin America", "Africa")
                ],
            )
        ],
    )
