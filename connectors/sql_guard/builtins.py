"""Each dialect's read-only built-in functions, by name: the only names a statement may call.

A call passes when its class is on the reviewed list of read-only sqlglot classes (`typed_functions`) AND the name it
was written with is a built-in of the dialect listed here (or one the dialect's sqlglot parser registers itself, or
one the source allows in its settings). The name matters even for a typed class: sqlglot turns `compress(x)` into
`exp.Compress` in every dialect, but on PostgreSQL that name can only be a user-defined function.

Reviewed by reading each warehouse's function reference; what is missing from a list is refused, so a missing
read-only function costs a refusal (the agent rewrites its SQL, or the source allows the name), never a write. Names
are lower case; dotted names are namespaced built-ins (BigQuery `net.host`). Left out on purpose, everywhere: anything
that writes, locks, signals a session, reads or lists server files, reaches the network or another database, runs SQL
given as a string, changes session state (settings, variables, sequences, random seeds), calls a model, or reads a
secret; `KNOWN_SIDE_EFFECTS` names the reason for the common ones so a refusal can say it.
"""

from __future__ import annotations


def _names(*blocks: str) -> frozenset[str]:
    return frozenset(name for block in blocks for name in block.split())


# SQL-standard names and the spellings every one of our warehouses shares.
_COMMON = """
abs acos asin atan atan2 avg ceil ceiling coalesce concat cos cot count cume_dist current_date current_time
current_timestamp degrees dense_rank exp extract first_value floor greatest grouping lag last_value lead least ln log
lower max min mod nth_value ntile nullif percent_rank pi power radians rank replace reverse round row_number sign sin
sqrt stddev stddev_pop stddev_samp substring sum tan trim upper var_pop var_samp variance cast exists case
"""

_POSTGRES_FAMILY = """
abs cbrt ceil ceiling degrees div exp factorial floor gcd lcm ln log log10 min_scale mod pi power radians random
round scale sign sqrt trim_scale trunc width_bucket acos acosd asin asind atan atand atan2 atan2d cos cosd cot cotd
sin sind tan tand sinh cosh tanh asinh acosh atanh erf erfc
bit_length char_length character_length lower octet_length overlay position substring trim upper ascii btrim chr
concat concat_ws format initcap left length lpad ltrim md5 parse_ident quote_ident quote_literal quote_nullable
regexp_count regexp_instr regexp_like regexp_match regexp_matches regexp_replace regexp_split_to_array
regexp_split_to_table regexp_substr repeat replace reverse right rpad rtrim split_part starts_with string_to_array
string_to_table strpos substr to_ascii to_hex translate unistr normalize convert_from convert_to encode decode
get_bit get_byte sha224 sha256 sha384 sha512 bit_count unnest
to_char to_date to_number to_timestamp age clock_timestamp current_date current_time current_timestamp date_bin
date_part date_trunc extract isfinite justify_days justify_hours justify_interval localtime localtimestamp make_date
make_interval make_time make_timestamp make_timestamptz now statement_timestamp timeofday transaction_timestamp
to_json to_jsonb array_to_json row_to_json json_build_array jsonb_build_array json_build_object jsonb_build_object
json_object jsonb_object json_array_elements jsonb_array_elements json_array_elements_text jsonb_array_elements_text
json_array_length jsonb_array_length json_each jsonb_each json_each_text jsonb_each_text json_extract_path
jsonb_extract_path json_extract_path_text jsonb_extract_path_text json_object_keys jsonb_object_keys
json_populate_record jsonb_populate_record json_populate_recordset jsonb_populate_recordset json_to_record
jsonb_to_record json_to_recordset jsonb_to_recordset json_strip_nulls jsonb_strip_nulls jsonb_set jsonb_set_lax
jsonb_insert jsonb_pretty json_typeof jsonb_typeof jsonb_path_exists jsonb_path_match jsonb_path_query
jsonb_path_query_array jsonb_path_query_first jsonb_concat
array_append array_cat array_dims array_fill array_length array_lower array_ndims array_position array_positions
array_prepend array_remove array_replace array_to_string array_upper cardinality trim_array array_sample
array_shuffle
array_agg avg bit_and bit_or bit_xor bool_and bool_or count every json_agg jsonb_agg json_object_agg
jsonb_object_agg max min range_agg range_intersect_agg string_agg sum xmlagg corr covar_pop covar_samp regr_avgx
regr_avgy regr_count regr_intercept regr_r2 regr_slope regr_sxx regr_sxy regr_syy stddev stddev_pop stddev_samp
variance var_pop var_samp mode percentile_cont percentile_disc rank dense_rank percent_rank cume_dist grouping
row_number ntile lag lead first_value last_value nth_value any_value
coalesce nullif greatest least num_nulls num_nonnulls generate_series generate_subscripts
lower_inc upper_inc lower_inf upper_inf isempty range_merge multirange int4range int8range numrange tsrange
tstzrange daterange
abbrev broadcast family host hostmask inet_merge inet_same_family masklen netmask network set_masklen text
to_tsvector to_tsquery plainto_tsquery phraseto_tsquery websearch_to_tsquery ts_rank ts_rank_cd ts_headline
setweight strip numnode querytree length
xmlelement xmlforest xmlconcat xmlcomment xmlpi xmlroot xmlexists xml_is_well_formed xml_is_well_formed_document
xml_is_well_formed_content xpath xpath_exists xmlparse xmlserialize xmltable
gen_random_uuid uuid_in
current_catalog current_database current_query current_role current_schema current_schemas current_user session_user
user version inet_client_addr inet_client_port inet_server_addr inet_server_port pg_backend_pid pg_conf_load_time
pg_postmaster_start_time pg_is_in_recovery pg_typeof pg_column_size pg_column_compression pg_database_size
pg_indexes_size pg_relation_size pg_size_bytes pg_size_pretty pg_table_size pg_total_relation_size
pg_get_constraintdef pg_get_expr pg_get_functiondef pg_get_function_arguments pg_get_function_result
pg_get_function_identity_arguments pg_get_indexdef pg_get_keywords pg_get_ruledef pg_get_serial_sequence
pg_get_statisticsobjdef pg_get_triggerdef pg_get_userbyid pg_get_viewdef pg_options_to_table pg_table_is_visible
pg_type_is_visible pg_function_is_visible pg_view_is_visible pg_has_role has_any_column_privilege
has_column_privilege has_database_privilege has_function_privilege has_schema_privilege has_sequence_privilege
has_table_privilege has_type_privilege obj_description col_description shobj_description format_type to_regclass
to_regtype to_regproc to_regprocedure to_regnamespace to_regrole current_setting txid_current_if_assigned
pg_current_snapshot pg_encoding_to_char pg_char_to_encoding pg_relation_filenode pg_tablespace_location
"""

_POSTGRES = """
row array array_agg
"""

_REDSHIFT = """
approximate listagg median nvl nvl2 decode getdate sysdate dateadd datediff date_add date_diff months_between
add_months last_day next_day convert_timezone trunc dexp dlog1 dlog10 checksum crc32 fnv_hash func_sha1 sha1 sha2
strtol textlen charindex is_valid_json is_valid_json_array json_extract_array_element_text json_parse json_serialize
json_size can_json_parse json_typeof split_to_array subarray get_array_length array_concat array_flatten
date_cmp date_cmp_timestamp timestamp_cmp interval_cmp timezone timestamp bpcharcmp bttext_pattern_cmp
regexp_count regexp_instr regexp_substr soundex difference ratio_to_report percentile_cont percentile_disc
pg_last_query_id pg_last_copy_count pg_last_copy_id current_user_id
"""

_MYSQL = """
abs acos asin atan atan2 ceil ceiling conv cos cot crc32 degrees div exp floor ln log log10 log2 mod pi pow power
radians rand round sign sin sqrt tan truncate
ascii bin bit_length char char_length character_length concat concat_ws elt export_set field find_in_set format
from_base64 hex insert instr lcase left length locate lower lpad ltrim make_set mid oct octet_length ord position
quote regexp_instr regexp_like regexp_replace regexp_substr repeat replace reverse right rpad rtrim soundex space
strcmp substr substring substring_index to_base64 trim ucase unhex upper weight_string natural_sort_key sformat
adddate addtime convert_tz curdate current_date current_time current_timestamp curtime date date_add date_format
date_sub datediff day dayname dayofmonth dayofweek dayofyear extract from_days from_unixtime get_format hour last_day
localtime localtimestamp makedate maketime microsecond minute month monthname now period_add period_diff quarter
sec_to_time second str_to_date subdate subtime sysdate time time_format time_to_sec timediff timestamp timestampadd
timestampdiff to_days to_seconds unix_timestamp utc_date utc_time utc_timestamp week weekday weekofyear year yearweek
add_months
json_array json_array_append json_array_insert json_arrayagg json_contains json_contains_path json_depth
json_detailed json_equals json_exists json_extract json_insert json_keys json_length json_loose json_merge
json_merge_patch json_merge_preserve json_normalize json_object json_objectagg json_overlaps json_pretty json_query
json_quote json_remove json_replace json_schema_valid json_search json_set json_table json_type json_unquote
json_valid json_value json_compact json_array_intersect json_object_filter_keys json_object_to_array json_key_value
avg bit_and bit_or bit_xor count group_concat max min std stddev stddev_pop stddev_samp sum var_pop var_samp
variance cume_dist dense_rank first_value lag last_value lead nth_value ntile percent_rank rank row_number median
percentile_cont percentile_disc
aes_decrypt aes_encrypt compress uncompress uncompressed_length md5 sha sha1 sha2 random_bytes
bit_count inet_aton inet_ntoa inet6_aton inet6_ntoa is_ipv4 is_ipv6 is_ipv4_compat is_ipv4_mapped is_uuid uuid
uuid_short uuid_to_bin bin_to_uuid
coalesce greatest if ifnull interval isnull least nullif nvl nvl2 decode_oracle charset collation
coercibility connection_id current_role current_user database found_rows last_insert_id row_count schema session_user system_user
user version icu_version default values cast convert binary match char
st_astext st_aswkt st_geomfromtext st_distance st_contains st_within st_x st_y point
"""

_SNOWFLAKE = """
abs acos acosh asin asinh atan atan2 atanh cbrt ceil cos cosh cot degrees div0 div0null exp factorial floor ln log
mod pi pow power radians round sign sin sinh sqrt square tan tanh trunc truncate width_bucket random uniform normal
zipf randstr seq1 seq2 seq4 seq8 uuid_string
ascii base64_decode_binary base64_decode_string base64_encode bit_length char chr charindex collate collation
compress concat concat_ws contains decompress_binary decompress_string editdistance endswith hex_decode_binary
hex_decode_string hex_encode ilike initcap insert jarowinkler_similarity left len length like lower lpad ltrim md5
md5_binary md5_hex md5_number_lower64 md5_number_upper64 octet_length parse_url position regexp regexp_count
regexp_instr regexp_like regexp_replace regexp_substr regexp_substr_all repeat replace reverse right rlike rpad
rtrim rtrimmed_length sha1 sha1_binary sha1_hex sha2 sha2_binary sha2_hex soundex soundex_p123 space split
split_part split_to_table startswith strtok strtok_split_to_table strtok_to_array substr substring translate trim
try_base64_decode_binary try_base64_decode_string try_hex_decode_binary try_hex_decode_string unicode upper
add_months convert_timezone current_date current_time current_timestamp date_from_parts date_part date_trunc
dateadd datediff datefromparts day dayname dayofmonth dayofweek dayofweekiso dayofyear extract getdate hour last_day
localtime localtimestamp minute month monthname months_between next_day previous_day quarter second sysdate
systimestamp time_from_parts time_slice timeadd timediff timestamp_from_parts timestamp_ltz_from_parts
timestamp_ntz_from_parts timestamp_tz_from_parts timestampadd timestampdiff timestampfromparts
timestampntzfromparts timefromparts week weekiso weekofyear year yearofweek yearofweekiso
to_array to_binary to_boolean to_char to_date to_decimal to_double to_geography to_geometry to_json to_number
to_numeric to_object to_time to_timestamp to_timestamp_ltz to_timestamp_ntz to_timestamp_tz to_varchar to_variant
try_cast try_parse_json try_to_binary try_to_boolean try_to_date try_to_decimal try_to_double try_to_number
try_to_numeric try_to_time try_to_timestamp try_to_timestamp_ltz try_to_timestamp_ntz try_to_timestamp_tz
array_agg array_append array_cat array_compact array_construct array_construct_compact array_contains
array_distinct array_except array_flatten array_generate_range array_insert array_intersection array_max
array_min array_position array_prepend array_remove array_remove_at array_reverse array_size array_slice
array_sort array_to_string array_union_agg array_unique_agg arrays_overlap arrays_to_object arrays_zip
check_json check_xml flatten get get_ignore_case get_path is_array is_binary is_boolean is_char is_date
is_date_value is_decimal is_double is_integer is_null_value is_object is_real is_time is_timestamp_ltz
is_timestamp_ntz is_timestamp_tz is_varchar json_extract_path_text object_agg object_construct
object_construct_keep_null object_delete object_insert object_keys object_pick parse_json parse_xml
strip_null_value typeof xmlget
any_value approx_count_distinct approx_percentile approx_top_k avg bitand_agg bitor_agg bitxor_agg booland_agg
boolor_agg boolxor_agg corr count count_if covar_pop covar_samp hll kurtosis listagg max max_by median min min_by
mode percentile_cont percentile_disc regr_avgx regr_avgy regr_count regr_intercept regr_r2 regr_slope regr_sxx
regr_sxy regr_syy skew stddev stddev_pop stddev_samp sum var_pop var_samp variance variance_pop variance_samp
cume_dist dense_rank first_value lag last_value lead nth_value ntile percent_rank rank ratio_to_report row_number
conditional_change_event conditional_true_event
bitand bitnot bitor bitxor bitshiftleft bitshiftright getbit booland boolnot boolor boolxor
coalesce decode equal_null greatest greatest_ignore_nulls iff ifnull least least_ignore_nulls nullif nullifzero nvl
nvl2 regr_valx regr_valy zeroifnull hash hash_agg
current_account current_account_name current_available_roles current_client current_database current_ip_address
current_organization_name current_region current_role current_role_type current_schema current_schemas
current_secondary_roles current_session current_statement current_transaction current_user current_version
current_warehouse last_query_id invoker_role invoker_share is_role_in_session is_database_role_in_session
generator vector_cosine_similarity vector_inner_product vector_l1_distance vector_l2_distance
st_distance st_point st_makepoint st_x st_y st_astext st_contains st_within h3_latlng_to_cell
system$typeof system$clustering_information system$clustering_depth system$clustering_ratio
"""

_BIGQUERY = """
abs acos acosh asin asinh atan atan2 atanh cbrt ceil ceiling cos cosh cot coth csc csch div exp floor greatest
ieee_divide is_inf is_nan least ln log log10 mod pow power rand range_bucket round safe_add safe_divide
safe_multiply safe_negate safe_subtract sec sech sign sin sinh sqrt tan tanh trunc cosine_distance
euclidean_distance
ascii byte_length char_length character_length chr code_points_to_bytes code_points_to_string collate concat
contains_substr edit_distance ends_with format from_base32 from_base64 from_hex initcap instr left length lower
lpad ltrim normalize normalize_and_casefold octet_length regexp_contains regexp_extract regexp_extract_all
regexp_instr regexp_replace regexp_substr repeat replace reverse right rpad rtrim safe_convert_bytes_to_string
soundex split starts_with strpos substr substring to_base32 to_base64 to_code_points to_hex translate trim unicode
upper
current_date current_datetime current_time current_timestamp date date_add date_diff date_from_unix_date
date_sub date_trunc datetime datetime_add datetime_diff datetime_sub datetime_trunc extract format_date
format_datetime format_time format_timestamp generate_date_array generate_timestamp_array last_day parse_date
parse_datetime parse_time parse_timestamp time time_add time_diff time_sub time_trunc timestamp timestamp_add
timestamp_diff timestamp_micros timestamp_millis timestamp_seconds timestamp_sub timestamp_trunc unix_date
unix_micros unix_millis unix_seconds justify_days justify_hours justify_interval make_interval
array array_concat array_length array_reverse array_to_string generate_array array_concat_agg array_agg
array_first array_last array_slice array_includes array_includes_all array_includes_any range
bool float64 int64 json_array json_extract json_extract_array json_extract_scalar json_extract_string_array
json_keys json_object json_query json_query_array json_remove json_set json_strip_nulls json_type json_value
json_value_array lax_bool lax_float64 lax_int64 lax_string parse_json string to_json to_json_string
json_array_append json_array_insert
any_value approx_count_distinct approx_quantiles approx_top_count approx_top_sum avg bit_and bit_or bit_xor
count countif logical_and logical_or max max_by min min_by string_agg sum corr covar_pop covar_samp stddev
stddev_pop stddev_samp var_pop var_samp variance grouping cume_dist dense_rank first_value lag last_value lead
nth_value ntile percent_rank percentile_cont percentile_disc rank row_number
farm_fingerprint md5 sha1 sha256 sha512 generate_uuid session_user current_user
coalesce if ifnull nullif iferror iserror error safe_cast gap_fill
st_area st_astext st_asgeojson st_buffer st_centroid st_contains st_distance st_dwithin st_geogfromtext
st_geogfromgeojson st_geogpoint st_intersects st_length st_makeline st_x st_y st_within
net.host net.ip_from_string net.ip_net_mask net.ip_to_string net.ip_trunc net.ipv4_from_int64 net.ipv4_to_int64
net.public_suffix net.reg_domain net.safe_ip_from_string
hll_count.extract hll_count.init hll_count.merge hll_count.merge_partial
keys.keyset_length
"""

_TSQL = """
abs acos asin atan atn2 ceiling cos cot degrees exp floor log log10 pi power radians rand round sign sin sqrt square
tan
ascii char charindex concat concat_ws difference format left len lower ltrim nchar patindex quotename replace
replicate reverse right rtrim soundex space str string_agg string_escape stuff substring translate trim unicode
upper
current_timestamp current_date dateadd datediff datediff_big datefromparts datename datepart datetime2fromparts
datetimefromparts datetimeoffsetfromparts datetrunc date_bucket day eomonth getdate getutcdate isdate month
smalldatetimefromparts switchoffset sysdatetime sysdatetimeoffset sysutcdatetime timefromparts todatetimeoffset year
cast convert parse try_cast try_convert try_parse
isjson json_modify json_object json_array json_path_exists json_query json_value openjson
approx_count_distinct approx_percentile_cont approx_percentile_disc avg checksum_agg count count_big grouping
grouping_id max min stdev stdevp sum var varp cume_dist first_value lag last_value lead percent_rank
percentile_cont percentile_disc dense_rank ntile rank row_number
choose coalesce iif isnull nullif greatest least
newid binary_checksum checksum hashbytes compress decompress
current_user session_user system_user user_name user_id suser_name suser_sname suser_id suser_sid db_name db_id
schema_name schema_id object_id object_name object_schema_name objectproperty objectpropertyex col_name
col_length columnproperty type_name type_id typeproperty databasepropertyex serverproperty host_name app_name
original_login is_member is_srvrolemember has_perms_by_name permissions scope_identity ident_current ident_seed
ident_incr error_number error_message parsename isnumeric sql_variant_property datalength
session_context context_info current_transaction_id
"""

_DATABRICKS = """
abs acos acosh asin asinh atan atan2 atanh bin bround cbrt ceil ceiling conv cos cosh cot csc degrees div e exp
expm1 factorial floor greatest hex hypot least ln log log10 log1p log2 mod nanvl negative pi pmod positive pow power
radians rand randn random rint round sec shiftleft shiftright shiftrightunsigned sign signum sin sinh sqrt tan tanh
try_add try_divide try_multiply try_subtract try_mod unhex uniform width_bucket
ascii base64 bit_length btrim char char_length character_length chr concat concat_ws contains decode elt encode
endswith find_in_set format_number format_string ilike initcap instr lcase left len length levenshtein like locate
lower lpad ltrim mask octet_length overlay position printf regexp regexp_count regexp_extract regexp_extract_all
regexp_instr regexp_like regexp_replace regexp_substr repeat replace reverse right rlike rpad rtrim sentences
soundex space split split_part startswith substr substring substring_index to_binary to_char to_number
to_varchar translate trim try_to_binary try_to_number ucase unbase64 upper url_decode url_encode try_url_decode
parse_url collate collation
add_months current_date current_timestamp current_timezone curdate date date_add date_diff date_format
date_from_unix_date date_part date_sub date_trunc dateadd datediff datepart day dayname dayofmonth dayofweek
dayofyear extract from_unixtime from_utc_timestamp getdate hour last_day make_date make_dt_interval make_interval
make_timestamp make_ym_interval minute month months_between next_day now quarter second session_window
timestamp_micros timestamp_millis timestamp_seconds timestampadd timestampdiff to_date to_timestamp
to_unix_timestamp to_utc_timestamp trunc try_to_timestamp unix_date unix_micros unix_millis unix_seconds
unix_timestamp weekday weekofyear window window_time year timestamp timestamp_ltz timestamp_ntz
aggregate array array_agg array_append array_compact array_contains array_distinct array_except array_insert
array_intersect array_join array_max array_min array_position array_prepend array_remove array_repeat array_size
array_sort array_union arrays_overlap arrays_zip cardinality element_at exists explode explode_outer filter
flatten forall get inline inline_outer map map_concat map_contains_key map_entries map_filter map_from_arrays
map_from_entries map_keys map_values map_zip_with named_struct posexplode posexplode_outer reduce reverse
sequence shuffle size slice sort_array stack str_to_map struct transform transform_keys transform_values
try_element_at zip_with range
from_json get_json_object json_array_length json_object_keys json_tuple parse_json schema_of_json to_json
try_parse_json variant_get try_variant_get is_variant_null schema_of_variant from_csv schema_of_csv to_csv
from_xml schema_of_xml to_xml xpath xpath_boolean xpath_double xpath_float xpath_int xpath_long xpath_number
xpath_short xpath_string
any any_value approx_count_distinct approx_percentile approx_top_k avg bit_and bit_or bit_xor bool_and bool_or
collect_list collect_set corr count count_if count_min_sketch covar_pop covar_samp every first first_value
histogram_numeric kurtosis last last_value listagg max max_by mean median min min_by mode percentile
percentile_approx percentile_cont percentile_disc regr_avgx regr_avgy regr_count regr_intercept regr_r2
regr_slope regr_sxx regr_sxy regr_syy skewness some std stddev stddev_pop stddev_samp string_agg sum try_avg
try_sum var_pop var_samp variance cume_dist dense_rank lag lead nth_value ntile percent_rank rank row_number
hll_sketch_agg hll_union_agg hll_sketch_estimate hll_union
bit_count bit_get getbit crc32 hash md5 sha sha1 sha2 xxhash64 uuid
coalesce decode if iff ifnull isnan isnotnull isnull nullif nullifzero nvl nvl2 zeroifnull case
boolean cast double float int string try_cast bigint smallint tinyint binary
current_catalog current_database current_metastore current_schema current_user current_version is_account_group_member
is_member session_user user version input_file_name input_file_block_length input_file_block_start
monotonically_increasing_id spark_partition_id typeof equal_null
h3_longlatash3 h3_longlatash3string st_point st_distance st_astext
"""

_DUCKDB = """
abs acos asin atan atan2 bit_count cbrt ceil ceiling cos cot degrees divide even exp factorial floor gamma gcd
greatest isfinite isinf isnan lcm least lgamma ln log log10 log2 nextafter pi pow power radians random round
round_even sign signbit sin sqrt tan trunc xor
array_extract array_slice ascii bar bit_length chr concat concat_ws contains damerau_levenshtein editdist3
ends_with format hamming ilike_escape instr jaccard jaro_similarity jaro_winkler_similarity left length
length_grapheme levenshtein like_escape lower lpad ltrim md5 md5_number mismatches nfc_normalize not_ilike_escape
not_like_escape ord parse_dirname parse_dirpath parse_filename parse_path position prefix printf regexp_escape
regexp_extract regexp_extract_all regexp_full_match regexp_matches regexp_replace regexp_split_to_array
regexp_split_to_table repeat replace reverse right rpad rtrim sha1 sha256 split split_part starts_with
str_split str_split_regex string_split string_split_regex string_to_array strip_accents strlen strpos substr
substring substring_grapheme suffix to_base to_base64 from_base64 to_hex from_hex translate trim unicode upper ucase
lcase url_decode url_encode base64 bin hex unbin unhex encode decode
age century current_date current_localtime current_localtimestamp date_add date_diff date_part date_sub
date_trunc datediff datepart datesub datetrunc day dayname dayofmonth dayofweek dayofyear decade epoch epoch_ms
epoch_ns epoch_us era extract get_current_time get_current_timestamp hour isodow isoyear julian last_day
make_date make_time make_timestamp make_timestamptz microsecond millennium millisecond minute month monthname
nanosecond now quarter second strftime strptime time_bucket timezone timezone_hour timezone_minute to_centuries
to_days to_decades to_hours to_microseconds to_millennia to_milliseconds to_minutes to_months to_seconds
to_timestamp to_weeks to_years today transaction_timestamp try_strptime week weekday weekofyear year yearweek
current_timestamp localtime localtimestamp
array_aggr array_aggregate array_append array_apply array_cat array_concat array_contains array_cosine_distance
array_cosine_similarity array_cross_product array_distance array_distinct array_dot_product array_filter
array_grade_up array_has array_has_all array_has_any array_indexof array_inner_product array_intersect
array_length array_pop_back array_pop_front array_position array_prepend array_push_back array_push_front
array_reduce array_resize array_reverse array_reverse_sort array_select array_sort array_to_string
array_transform array_unique array_value array_where array_zip cardinality flatten generate_series
list_aggr list_aggregate list_any_value list_append list_apply list_avg list_bool_and list_bool_or list_cat
list_concat list_contains list_cosine_distance list_cosine_similarity list_count list_distance list_distinct
list_dot_product list_element list_extract list_filter list_first list_grade_up list_has list_has_all
list_has_any list_indexof list_inner_product list_intersect list_last list_max list_median list_min list_mode
list_pack list_position list_prepend list_product list_reduce list_resize list_reverse list_reverse_sort
list_select list_slice list_sort list_sum list_transform list_unique list_value list_where list_zip range
repeat_row unnest unpivot_list
map map_concat map_contains map_entries map_extract map_from_entries map_keys map_values element_at
struct_extract struct_insert struct_pack row array struct_concat union_extract union_tag union_value
json json_array json_array_length json_contains json_exists json_extract json_extract_path
json_extract_path_text json_extract_string json_group_array json_group_object json_group_structure json_keys
json_merge_patch json_object json_quote json_serialize_plan json_structure json_transform json_transform_strict
json_type json_valid json_value to_json from_json from_json_strict json_pretty
any_value approx_count_distinct approx_quantile arbitrary arg_max arg_max_null arg_min arg_min_null argmax
argmin array_agg avg bit_and bit_or bit_xor bitstring_agg bool_and bool_or count count_if count_star corr
covar_pop covar_samp entropy favg first fsum geomean geometric_mean histogram kahan_sum kurtosis kurtosis_pop
last list mad max max_by mean median min min_by mode product quantile quantile_cont quantile_disc
regr_avgx regr_avgy regr_count regr_intercept regr_r2 regr_slope regr_sxx regr_sxy regr_syy reservoir_quantile
sem skewness stddev stddev_pop stddev_samp string_agg group_concat listagg sum sum_no_overflow var_pop var_samp
variance weighted_avg
cume_dist dense_rank first_value lag last_value lead nth_value ntile percent_rank rank rank_dense row_number
coalesce ifnull nullif if iif greatest least typeof alias constant_or_null try_cast hash uuid gen_random_uuid uuidv4
current_catalog current_database current_schema current_schemas current_user session_user user version
duckdb_tables duckdb_columns duckdb_views duckdb_schemas duckdb_databases duckdb_constraints duckdb_indexes
duckdb_types duckdb_keywords duckdb_functions pragma_table_info try
"""

BUILTINS: dict[str, frozenset[str]] = {
    "postgres": _names(_COMMON, _POSTGRES_FAMILY, _POSTGRES),
    "redshift": _names(_COMMON, _POSTGRES_FAMILY, _REDSHIFT),
    "mysql": _names(_COMMON, _MYSQL),
    "snowflake": _names(_COMMON, _SNOWFLAKE),
    "bigquery": _names(_COMMON, _BIGQUERY),
    "tsql": _names(_COMMON, _TSQL),
    "databricks": _names(_COMMON, _DATABRICKS),
    "duckdb": _names(_COMMON, _DUCKDB),
}

# Names refused although they are read-only elsewhere, because here they are not: they win over every list above.
REFUSED_HERE: dict[str, frozenset[str]] = {
    "duckdb": _names("current_setting duckdb_settings duckdb_secrets which_secret setseed nextval"),
}

# Calls allowed only without arguments: with one they change session state.
ONLY_WITHOUT_ARGUMENTS: dict[str, str] = {
    "last_insert_id": "LAST_INSERT_ID(expr) sets the value the session's next LAST_INSERT_ID() returns",
}

# Sleeps: accepted with a constant argument, evaluated once (not per row), within the timeout. Value: (argument index of
# the amount, index of an optional unit argument or None).
SLEEPS: dict[str, dict[str, tuple[int, int | None]]] = {
    "postgres": {"pg_sleep": (0, None)},
    "redshift": {"pg_sleep": (0, None)},
    "mysql": {"sleep": (0, None)},
    "snowflake": {"system$wait": (0, 1)},
}
SLEEP_UNITS_S: dict[str, float] = {
    "MILLISECONDS": 0.001,
    "SECONDS": 1.0,
    "MINUTES": 60.0,
    "HOURS": 3600.0,
    "DAYS": 86400.0,
}

# Why a well-known function with side effects is refused: only for the refusal's message (whatever is missing from
# BUILTINS is refused anyway, with a generic reason).
_REASONS: dict[str, str] = {
    "terminates another session": "pg_terminate_backend",
    "cancels another session's query": "pg_cancel_backend system$cancel_query system$cancel_all_queries",
    "changes server or session settings": "set_config pg_reload_conf setseed",
    "advances or sets a sequence": "nextval setval getnextval seq_nextval",
    "takes or releases a lock": "get_lock release_lock release_all_locks pg_advisory_lock pg_advisory_xact_lock "
    "pg_advisory_lock_shared pg_advisory_xact_lock_shared pg_try_advisory_lock pg_try_advisory_xact_lock "
    "pg_try_advisory_lock_shared pg_try_advisory_xact_lock_shared pg_advisory_unlock pg_advisory_unlock_all "
    "pg_advisory_unlock_shared",
    "reads or lists server files": "pg_read_file pg_read_binary_file pg_ls_dir pg_ls_logdir pg_ls_waldir pg_ls_tmpdir "
    "pg_ls_archive_statusdir pg_ls_logicalsnapdir pg_ls_logicalmapdir pg_ls_replslotdir pg_stat_file lo_import "
    "load_file read_csv read_csv_auto read_parquet parquet_scan read_json read_json_auto read_ndjson read_text "
    "read_blob glob read_files sniff_csv parquet_metadata parquet_schema fn_get_audit_file to_file infer_schema "
    "fn_xe_file_target_read_file",
    "writes a file or a large object": "lo_export lo_unlink lo_create lo_creat lo_from_bytea lo_put lo_truncate "
    "lo_open lo_write pg_file_write",
    "reaches another database or the network": "dblink dblink_exec dblink_connect openrowset openquery "
    "opendatasource external_query http_request postgres_scan mysql_scan sqlite_scan",
    "runs SQL given as a string": "query_to_xml query_to_xmlschema query_to_xml_and_xmlschema cursor_to_xml query "
    "query_table",
    "resets or changes server statistics and state": "pg_stat_reset pg_stat_reset_shared "
    "pg_stat_reset_single_table_counters pg_stat_reset_single_function_counters pg_stat_reset_slru "
    "pg_stat_reset_replication_slot pg_stat_reset_subscription_stats pg_stat_statements_reset pg_rotate_logfile "
    "pg_switch_wal pg_create_restore_point pg_promote pg_notify txid_current pg_current_xact_id",
    "waits on replication": "master_pos_wait source_pos_wait master_gtid_wait wait_for_executed_gtid_set "
    "wait_until_sql_thread_after_gtids",
    "burns server CPU on purpose": "benchmark",
    "calls a model": "ai_query ai_gen ai_classify ai_extract ai_fix_grammar ai_mask ai_similarity ai_summarize "
    "ai_translate ai_analyze_sentiment ai_forecast ai_complete ai_filter ai_agg ai_embed ai_sentiment complete "
    "vector_search ml.predict ml.generate_text ml.generate_embedding ai.generate",
    "calls a Java method": "reflect java_method try_reflect",
    "reads a secret": "secret list_secrets",
    "sleeps for a time the guard cannot bound": "pg_sleep_for pg_sleep_until",
    "runs a shell command": "sys_exec sys_eval xp_cmdshell",
    "reads the previous results of the session": "result_scan",
}
KNOWN_SIDE_EFFECTS: dict[str, str] = {name: reason for reason, names in _REASONS.items() for name in names.split()}
