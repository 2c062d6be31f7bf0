//! Schema export: the Arrow schema as text, and the statements that register the partitioned
//! output as a table in DuckDB, Spark and Hive-compatible catalogs (Athena, Trino); for an
//! Iceberg table, what DuckDB, Spark, Trino and pyiceberg need to reach it in its catalog.

use std::fmt::Write as _;

use arrow_schema::{DataType, TimeUnit};

use crate::partition::{PartitionColumn, PartitionSpec};
use crate::schema::{EventSchema, FieldSpec, FieldType};

/// The output formats of `logpush-parquet schema`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SchemaFormat {
    /// The Arrow schema of the data files, one field a line, then the partition columns.
    Arrow,
    /// A DuckDB `CREATE VIEW` over the output's Parquet files.
    Duckdb,
    /// A Spark SQL `CREATE TABLE ... USING parquet` over the output folder.
    Spark,
    /// A Hive `CREATE EXTERNAL TABLE ... STORED AS PARQUET` (Athena, Trino, Hive metastore); for
    /// an Iceberg table, Trino's catalog properties.
    Hive,
    /// Python that loads the Iceberg table with pyiceberg (`--table-format iceberg`).
    Pyiceberg,
}

/// An Iceberg table's catalog, for the statements that query it.
#[derive(Debug, Clone)]
pub struct IcebergCatalog<'a> {
    /// The REST catalog's URI.
    pub uri: &'a str,
    /// The warehouse.
    pub warehouse: &'a str,
}

/// What the statements describe: which table, where, and how it is partitioned.
#[derive(Debug, Clone)]
pub struct TableDefinition<'a> {
    /// The field list.
    pub schema: &'a EventSchema,
    /// The unit of timestamp columns.
    pub unit: TimeUnit,
    /// The partition columns.
    pub partition: &'a PartitionSpec,
    /// The table (or view) name.
    pub table: &'a str,
    /// The output root (a folder or an object-store URL).
    pub location: &'a str,
    /// Whether the output is a Delta table (`--table-format delta`): the statements then read
    /// its log, which holds the schema and the files.
    pub delta: bool,
    /// The catalog of an Iceberg table (`--table-format iceberg`, `table` being
    /// `NAMESPACE.TABLE`): the statements attach the catalog, which holds the schema and files.
    pub iceberg: Option<IcebergCatalog<'a>>,
}

/// SQL type names of one engine.
struct Dialect {
    string: &'static str,
    int: &'static str,
    float: &'static str,
    boolean: &'static str,
    string_list: &'static str,
    int_list: &'static str,
    string_map: &'static str,
    json: &'static str,
    timestamp: &'static str,
    date: &'static str,
    hour: &'static str,
}

const SPARK: Dialect = Dialect {
    string: "STRING",
    int: "BIGINT",
    float: "DOUBLE",
    boolean: "BOOLEAN",
    string_list: "ARRAY<STRING>",
    int_list: "ARRAY<BIGINT>",
    string_map: "MAP<STRING, STRING>",
    // Spark has no JSON type: the text, to read with from_json or get_json_object.
    json: "STRING",
    timestamp: "TIMESTAMP",
    date: "DATE",
    hour: "INT",
};

const DUCKDB: Dialect = Dialect {
    string: "VARCHAR",
    int: "BIGINT",
    float: "DOUBLE",
    boolean: "BOOLEAN",
    string_list: "VARCHAR[]",
    int_list: "BIGINT[]",
    string_map: "MAP(VARCHAR, VARCHAR)",
    json: "JSON",
    timestamp: "TIMESTAMPTZ",
    date: "DATE",
    hour: "INTEGER",
};

impl Dialect {
    fn field_type(&self, t: FieldType) -> &'static str {
        match t {
            FieldType::String => self.string,
            FieldType::Int => self.int,
            FieldType::Float => self.float,
            FieldType::Bool => self.boolean,
            FieldType::Timestamp => self.timestamp,
            FieldType::StringList => self.string_list,
            FieldType::IntList => self.int_list,
            FieldType::StringMap => self.string_map,
            FieldType::Json => self.json,
        }
    }

    fn partition_type(&self, schema: &EventSchema, c: PartitionColumn) -> &'static str {
        match c {
            PartitionColumn::Date => self.date,
            PartitionColumn::Hour => self.hour,
            PartitionColumn::Field(i) => self.field_type(schema.fields()[i].field_type),
        }
    }
}

/// A string literal for Spark SQL and HiveQL, which escape with backslashes.
fn sql_string(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// A string literal for DuckDB, which doubles quotes (standard SQL).
fn duckdb_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl TableDefinition<'_> {
    /// Renders the definition in `format`.
    pub fn render(&self, format: SchemaFormat) -> String {
        match format {
            SchemaFormat::Arrow => self.arrow(),
            SchemaFormat::Duckdb
            | SchemaFormat::Spark
            | SchemaFormat::Hive
            | SchemaFormat::Pyiceberg
                if self.iceberg.is_some() =>
            {
                self.iceberg(format)
            }
            SchemaFormat::Pyiceberg => "# pyiceberg reads Iceberg tables: give --table-format \
                                        iceberg\n"
                .to_string(),
            SchemaFormat::Duckdb if self.delta => self.duckdb_delta(),
            SchemaFormat::Spark if self.delta => self.spark_delta(),
            SchemaFormat::Hive if self.delta => self.hive_delta(),
            SchemaFormat::Duckdb => self.duckdb(),
            SchemaFormat::Spark => self.catalog(false),
            SchemaFormat::Hive => self.catalog(true),
        }
    }

    fn data_fields(&self) -> impl Iterator<Item = &FieldSpec> {
        let fields = self.schema.fields();
        self.partition
            .kept_fields(fields.len())
            .into_iter()
            .map(move |i| &fields[i])
    }

    fn arrow(&self) -> String {
        let mut out = String::new();
        for f in self.data_fields() {
            let _ = writeln!(out, "{}: {}", f.name, f.arrow_type(self.unit));
        }
        for (name, c) in self.partition.columns() {
            let ty = match c {
                PartitionColumn::Date => DataType::Date32,
                PartitionColumn::Hour => DataType::Int32,
                PartitionColumn::Field(i) => self.schema.fields()[*i].arrow_type(self.unit),
            };
            let _ = writeln!(out, "{name}: {ty} (partition)");
        }
        out
    }

    fn duckdb(&self) -> String {
        let location = self.location.trim_end_matches('/');
        let glob = if self.partition.is_none() {
            format!("{location}/*.parquet")
        } else {
            format!("{location}/**/*.parquet")
        };
        // By name: files written before the field list grew (a newer list, the catch-all
        // column) lack the later columns, which then read as NULL instead of being dropped.
        let mut out = format!(
            "CREATE OR REPLACE VIEW \"{}\" AS\nSELECT * FROM read_parquet({}, union_by_name = true",
            self.table.replace('"', "\"\""),
            duckdb_string(&glob)
        );
        if !self.partition.is_none() {
            let types: Vec<String> = self
                .partition
                .columns()
                .iter()
                .map(|(name, c)| format!("'{name}': {}", DUCKDB.partition_type(self.schema, *c)))
                .collect();
            let _ = write!(
                out,
                ", hive_partitioning = true, hive_types = {{{}}}",
                types.join(", ")
            );
        }
        out.push_str(");\n");
        out
    }

    /// What an engine needs to query the Iceberg table in its catalog.
    fn iceberg(&self, format: SchemaFormat) -> String {
        let catalog = self.iceberg.clone().expect("an Iceberg table");
        let (uri, warehouse, table) = (catalog.uri, catalog.warehouse, self.table);
        match format {
            SchemaFormat::Duckdb => format!(
                "-- DuckDB with its iceberg and httpfs extensions. R2 Data Catalog: TOKEN is the R2 API\n\
                 -- token (ICEBERG_CATALOG_TOKEN); the catalog vends the credentials for the files.\n\
                 -- Other catalogs: CLIENT_ID, CLIENT_SECRET and OAUTH2_SERVER_URI '{uri}/v1/oauth/tokens'\n\
                 -- instead of TOKEN, and an S3 secret for the files when the catalog vends none.\n\
                 INSTALL iceberg;\nLOAD iceberg;\nINSTALL httpfs;\nLOAD httpfs;\n\
                 CREATE OR REPLACE SECRET iceberg_catalog (TYPE ICEBERG, TOKEN '<ICEBERG_CATALOG_TOKEN>');\n\
                 ATTACH {} AS lake (TYPE ICEBERG, ENDPOINT {}, SECRET iceberg_catalog);\n\
                 SELECT count(*) FROM lake.{table};\n",
                duckdb_string(warehouse),
                duckdb_string(uri),
            ),
            SchemaFormat::Spark => format!(
                "-- spark-sql (Spark 3.5) with the Iceberg runtime and its AWS bundle:\n\
                 --   --packages org.apache.iceberg:iceberg-spark-runtime-3.5_2.12:1.10.0,org.apache.iceberg:iceberg-aws-bundle:1.10.0\n\
                 --   --conf spark.sql.extensions=org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions\n\
                 --   --conf spark.sql.catalog.lake=org.apache.iceberg.spark.SparkCatalog\n\
                 --   --conf spark.sql.catalog.lake.type=rest\n\
                 --   --conf spark.sql.catalog.lake.uri={uri}\n\
                 --   --conf spark.sql.catalog.lake.warehouse={warehouse}\n\
                 --   --conf spark.sql.catalog.lake.token=$ICEBERG_CATALOG_TOKEN\n\
                 --   --conf spark.sql.catalog.lake.header.X-Iceberg-Access-Delegation=vended-credentials\n\
                 -- (other catalogs: spark.sql.catalog.lake.credential=<client id>:<client secret>)\n\
                 SELECT count(*) FROM lake.{table};\n"
            ),
            SchemaFormat::Hive => format!(
                "-- Trino: etc/catalog/lake.properties\n\
                 --   connector.name=iceberg\n\
                 --   iceberg.catalog.type=rest\n\
                 --   iceberg.rest-catalog.uri={uri}\n\
                 --   iceberg.rest-catalog.warehouse={warehouse}\n\
                 --   iceberg.rest-catalog.security=OAUTH2\n\
                 --   iceberg.rest-catalog.oauth2.token=<ICEBERG_CATALOG_TOKEN>\n\
                 --   iceberg.rest-catalog.vended-credentials-enabled=true\n\
                 -- (Athena reads Iceberg tables through AWS Glue, not a REST catalog.)\n\
                 SELECT count(*) FROM lake.{table};\n"
            ),
            _ => format!(
                "# pip install \"pyiceberg[pyarrow]\"\n\
                 import os\n\n\
                 from pyiceberg.catalog.rest import RestCatalog\n\n\
                 catalog = RestCatalog(\n\
                 \x20   \"lake\",\n\
                 \x20   uri={uri:?},\n\
                 \x20   warehouse={warehouse:?},\n\
                 \x20   # other catalogs: credential=\"<client id>:<client secret>\"\n\
                 \x20   token=os.environ[\"ICEBERG_CATALOG_TOKEN\"],\n\
                 )\n\
                 table = catalog.load_table({table:?})\n\
                 print(table.scan().to_arrow().num_rows)\n"
            ),
        }
    }

    fn duckdb_delta(&self) -> String {
        format!(
            "INSTALL delta;\nLOAD delta;\nCREATE OR REPLACE VIEW \"{}\" AS\nSELECT * FROM delta_scan({});\n",
            self.table.replace('"', "\"\""),
            duckdb_string(self.location.trim_end_matches('/'))
        )
    }

    fn spark_delta(&self) -> String {
        format!(
            "-- Needs the delta-spark package, with spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension\n\
             -- and spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog\n\
             CREATE TABLE IF NOT EXISTS `{}` USING delta LOCATION {};\n",
            self.table,
            sql_string(self.location)
        )
    }

    fn hive_delta(&self) -> String {
        format!(
            "-- Athena (engine version 3) reads the table's log; Trino registers it with\n\
             -- CALL delta.system.register_table(schema_name => '...', table_name => '{}', table_location => {})\n\
             CREATE EXTERNAL TABLE `{}`\nLOCATION {}\nTBLPROPERTIES ('table_type' = 'DELTA');\n",
            self.table,
            sql_string(self.location),
            self.table,
            sql_string(self.location)
        )
    }

    fn catalog(&self, hive: bool) -> String {
        let mut out = String::new();
        if self.unit == TimeUnit::Nanosecond {
            out.push_str(
                "-- Spark, Hive and Athena cannot read nanosecond Parquet timestamps: convert with --timestamp-unit us\n",
            );
        }
        let external = if hive { "EXTERNAL " } else { "" };
        let _ = writeln!(out, "CREATE {external}TABLE `{}` (", self.table);
        let mut columns: Vec<String> = self
            .data_fields()
            .map(|f| {
                let mut col = format!("  `{}` {}", f.name, SPARK.field_type(f.field_type));
                if !f.description.is_empty() {
                    let _ = write!(col, " COMMENT {}", sql_string(&f.description));
                }
                col
            })
            .collect();
        let partitions: Vec<(String, &str)> = self
            .partition
            .columns()
            .iter()
            .map(|(name, c)| (format!("`{name}`"), SPARK.partition_type(self.schema, *c)))
            .collect();
        if !hive {
            columns.extend(partitions.iter().map(|(n, t)| format!("  {n} {t}")));
        }
        out.push_str(&columns.join(",\n"));
        out.push_str("\n)\n");
        if hive {
            if !partitions.is_empty() {
                let list: Vec<String> =
                    partitions.iter().map(|(n, t)| format!("{n} {t}")).collect();
                let _ = writeln!(out, "PARTITIONED BY ({})", list.join(", "));
            }
            out.push_str("STORED AS PARQUET\n");
        } else {
            out.push_str("USING parquet\n");
            if !partitions.is_empty() {
                let list: Vec<&str> = partitions.iter().map(|(n, _)| n.as_str()).collect();
                let _ = writeln!(out, "PARTITIONED BY ({})", list.join(", "));
            }
        }
        let _ = writeln!(out, "LOCATION {};", sql_string(self.location));
        if !partitions.is_empty() {
            let _ = writeln!(out, "MSCK REPAIR TABLE `{}`;", self.table);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(format: SchemaFormat, partition: &str) -> String {
        let schema = EventSchema::spectrum_events();
        let spec = PartitionSpec::parse(partition, &schema).unwrap();
        TableDefinition {
            schema: &schema,
            unit: TimeUnit::Microsecond,
            partition: &spec,
            table: "spectrum_events",
            location: "/data/out",
            delta: false,
            iceberg: None,
        }
        .render(format)
    }

    #[test]
    fn delta_statements_read_the_tables_log() {
        let schema = EventSchema::spectrum_events();
        let spec = PartitionSpec::parse("date,hour", &schema).unwrap();
        let render = |format| {
            TableDefinition {
                schema: &schema,
                unit: TimeUnit::Microsecond,
                partition: &spec,
                table: "spectrum_events",
                location: "s3://lake/spectrum/",
                delta: true,
                iceberg: None,
            }
            .render(format)
        };
        assert_eq!(
            render(SchemaFormat::Duckdb),
            "INSTALL delta;\nLOAD delta;\nCREATE OR REPLACE VIEW \"spectrum_events\" AS\n\
             SELECT * FROM delta_scan('s3://lake/spectrum');\n"
        );
        assert!(
            render(SchemaFormat::Spark).ends_with(
                "CREATE TABLE IF NOT EXISTS `spectrum_events` USING delta LOCATION 's3://lake/spectrum/';\n"
            )
        );
        assert!(render(SchemaFormat::Hive).contains("TBLPROPERTIES ('table_type' = 'DELTA')"));
        assert!(render(SchemaFormat::Arrow).starts_with("Application: Utf8\n"));
    }

    #[test]
    fn arrow_lists_every_field_then_the_partition_columns() {
        let text = render(SchemaFormat::Arrow, "date,hour");
        assert_eq!(
            text.lines().count(),
            34,
            "31 fields, the catch-all, date and hour"
        );
        assert!(
            text.contains("\n_extra: Utf8\ndate: Date32 (partition)"),
            "{text}"
        );
        assert!(text.contains("Event: Dictionary(Int16, Utf8)\n"), "{text}");
        assert!(
            text.contains("Timestamp: Timestamp(µs, \"UTC\")\n")
                || text.contains("Timestamp: Timestamp(Microsecond, Some(\"UTC\"))\n"),
            "{text}"
        );
        assert!(text.ends_with("date: Date32 (partition)\nhour: Int32 (partition)\n"));
    }

    #[test]
    fn duckdb_view_types_the_partition_columns() {
        assert_eq!(
            render(SchemaFormat::Duckdb, "date,hour,Application"),
            "CREATE OR REPLACE VIEW \"spectrum_events\" AS\nSELECT * FROM read_parquet('/data/out/**/*.parquet', union_by_name = true, hive_partitioning = true, hive_types = {'date': DATE, 'hour': INTEGER, 'Application': VARCHAR});\n"
        );
        assert!(
            render(SchemaFormat::Duckdb, "none")
                .contains("'/data/out/*.parquet', union_by_name = true)")
        );
    }

    #[test]
    fn spark_and_hive_declare_nested_columns() {
        let schema = EventSchema::bundled("http_requests").unwrap();
        let spec = PartitionSpec::parse("date,hour", &schema).unwrap();
        for format in [SchemaFormat::Spark, SchemaFormat::Hive] {
            let ddl = TableDefinition {
                schema: &schema,
                unit: TimeUnit::Microsecond,
                partition: &spec,
                table: "http_requests",
                location: "/data/out",
                delta: false,
                iceberg: None,
            }
            .render(format);
            for column in [
                "`BotDetectionIDs` ARRAY<BIGINT>",
                "`BotDetectionTags` ARRAY<STRING>",
                "`RequestHeaders` MAP<STRING, STRING>",
                "`EdgeResponseCompressionRatio` DOUBLE",
                "`JA4Signals` STRING",
            ] {
                assert!(ddl.contains(column), "{format:?} lacks {column}:\n{ddl}");
            }
        }
        let refused = PartitionSpec::parse("BotDetectionTags", &schema).unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("partition by string, int or bool")
        );
    }

    #[test]
    fn spark_and_hive_tables_declare_partitions_and_comments() {
        let spark = render(SchemaFormat::Spark, "date,hour");
        assert!(
            spark.starts_with("CREATE TABLE `spectrum_events` (\n  `Application` STRING COMMENT")
        );
        assert!(spark.contains(
            "  `Status` BIGINT COMMENT 'A code indicating reason for connection closure.',\n"
        ));
        assert!(spark.contains("  `date` DATE,\n  `hour` INT\n)\nUSING parquet\nPARTITIONED BY (`date`, `hour`)\nLOCATION '/data/out';\nMSCK REPAIR TABLE `spectrum_events`;\n"), "{spark}");
        let hive = render(SchemaFormat::Hive, "date,hour,Event");
        assert!(hive.starts_with("CREATE EXTERNAL TABLE"));
        assert!(
            !hive.contains("  `Event` STRING"),
            "a partition field leaves the column list"
        );
        assert!(
            hive.contains(
                "PARTITIONED BY (`date` DATE, `hour` INT, `Event` STRING)\nSTORED AS PARQUET\n"
            ),
            "{hive}"
        );
    }
}
