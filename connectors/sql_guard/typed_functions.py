"""The reviewed sqlglot function classes: which are reads, which are not.

sqlglot parses a call it knows into a typed class (`exp.Lower`, `exp.DateTrunc`, ...), whatever the dialect. Every
`exp.Func` subclass of the installed sqlglot was read (its `sql_names`, its arguments, what the dialects that spell it
do) and put in exactly one of the two lists below; a test fails when a sqlglot upgrade brings a class that is in
neither, and until it is reviewed such a class is refused. Being a read is necessary, not sufficient: the name the call
was written with must also be a built-in of the dialect (see `builtins`).

Refused although they compute without writing: model calls (network, cost, data leaving the warehouse), file reads,
secrets, sequences.
"""

from __future__ import annotations

import inspect

from sqlglot import exp

REFUSED_TYPED: dict[str, str] = {
    "NextValueFor": "advances a sequence",
    "AIAgg": "calls a model",
    "AISummarizeAgg": "calls a model",
    "AIClassify": "calls a model",
    "AIEmbed": "calls a model",
    "AIForecast": "calls a model",
    "AIGenerate": "calls a model",
    "AISimilarity": "calls a model",
    "GenerateBool": "calls a model",
    "GenerateDouble": "calls a model",
    "GenerateInt": "calls a model",
    "GenerateEmbedding": "calls a model",
    "GenerateText": "calls a model",
    "GenerateTable": "calls a model",
    "MLForecast": "calls a model",
    "MLTranslate": "calls a model",
    "Predict": "calls a model",
    "ReadCSV": "reads files",
    "ReadParquet": "reads files",
    "ToFile": "refers to a staged file",
    "Secret": "reads a secret",
    "DynamicIdentifier": "calls a function named by a string",
    # Bases and generic shells: never a specific function; the name-checked ones are decided by their name.
    "Func": "is not a specific function",
    "AggFunc": "is not a specific function",
    "Agg": "is a generic aggregate call the guard cannot name",
}

# Decided by the name they carry, not by their class (user-defined or unknown to sqlglot).
NAMED_CALLS: tuple[type[exp.Expr], ...] = tuple(
    c
    for c in (
        getattr(exp, n, None)
        for n in ("Anonymous", "AnonymousAggFunc", "CombinedAggFunc", "CombinedParameterizedAgg", "ParameterizedAgg")
    )
    if isinstance(c, type)
)

# Wrappers whose inner call is checked on its own (`SAFE.DIVIDE(...)`, `NET.HOST(...)` in BigQuery).
WRAPPERS: tuple[type[exp.Expr], ...] = (exp.SafeFunc, exp.NetFunc)

ALLOWED_TYPED: frozenset[str] = frozenset(
    """
    AnyValue ApproxPercentileAccumulate ApproxPercentileCombine ApproxPercentileEstimate ApproxQuantile ApproxQuantiles
    ApproxTopK ApproxTopKAccumulate ApproxTopKCombine ApproxTopKEstimate ApproxTopSum ApproximateSimilarity ArgMax
    ArgMin ArrayAgg ArrayConcatAgg ArrayUnionAgg ArrayUniqueAgg Avg Corr Count CountIf CovarPop CovarSamp CumeDist
    DenseRank First FirstValue GroupConcat Grouping GroupingId Kurtosis Lag Last LastValue Lead LogicalAnd LogicalOr
    Max Median Min Minhash MinhashCombine Mode NthValue Ntile ObjectAgg PercentRank PercentileCont PercentileDisc
    Quantile Rank RegrAvgx RegrAvgy RegrCount RegrIntercept RegrR2 RegrSlope RegrSxx RegrSxy RegrSyy RegrValx RegrValy
    RowNumber Skewness Stddev StddevPop StddevSamp Sum Variance VariancePop

    Apply Array ArrayAll ArrayAny ArrayAppend ArrayCompact ArrayConcat ArrayConstructCompact ArrayContainedBy
    ArrayContains ArrayContainsAll ArrayDistinct ArrayExcept ArrayFilter ArrayFirst ArrayInsert ArrayIntersect ArrayLast
    ArrayMax ArrayMin ArrayOverlaps ArrayPosition ArrayPrepend ArrayRemove ArrayRemoveAt ArrayReverse ArraySize
    ArraySlice ArraySort ArraySum ArrayToString ArraysZip Explode ExplodingGenerateSeries Flatten GenerateSeries
    Generator Inline List Map MapCat MapContainsKey MapDelete MapFromEntries MapInsert MapKeys MapPick MapSize
    Posexplode PosexplodeOuter Reduce Shuffle SortArray SplitToTable StDistance StPoint Stack StarMap StringToArray
    StrtokToArray Struct StructExtract ToArray ToMap Transform Unnest VarMap _ExplodeOuter

    And ApproxDistinct HashAgg Hll Or Pow RegexpLike SafeFunc Typeof Xor

    Case Cast CastToStrType CheckXml Coalesce Collate Collation Columns ConnectByRoot Convert CurrentAccount
    CurrentAccountName CurrentAvailableRoles CurrentCatalog CurrentClient CurrentDatabase CurrentIpAddress
    CurrentOrganizationName CurrentOrganizationUser CurrentRegion CurrentRole CurrentRoleType CurrentSchema
    CurrentSchemas CurrentSecondaryRoles CurrentSession CurrentStatement CurrentTransaction CurrentUser CurrentUserId
    CurrentVersion CurrentWarehouse DecodeCase EqualNull Exists FeaturesAtTime Float64 GetIgnoreCase Greatest Host If
    Int64 IsArray IsNullValue JSONCast LaxBool LaxFloat64 LaxInt64 LaxString Least NetFunc Normal Nullif Nvl2
    ObjectTransform ParseIp Rand Randn Randstr RangeBucket RangeN RegDomain Seq1 Seq2 Seq4 Seq8 SessionUser ToBoolean
    ToVariant Try TryCast Uniform Uuid VectorSearch WeekStart WidthBucket XMLElement XMLGet XMLTable Zipf

    CheckJson FromJson JSONArray JSONArrayAgg JSONArrayAppend JSONArrayContains JSONArrayInsert JSONBContains
    JSONBContainsAllTopKeys JSONBContainsAnyTopKeys JSONBContainsTopKey JSONBDeleteAtPath JSONBExists JSONBExtract
    JSONBExtractScalar JSONBObjectAgg JSONBPathExists JSONBool JSONExists JSONExtract JSONExtractArray
    JSONExtractScalar JSONFormat JSONKeys JSONKeysAtDepth JSONObject JSONObjectAgg JSONRemove JSONSet JSONStripNulls
    JSONTable JSONType ObjectId ObjectInsert OpenJSON ParseJSON StripNullValue JSONValueArray

    Abs Acos Acosh Asin Asinh Atan Atan2 Atanh BitmapBitPosition BitmapBucketNumber BitmapConstructAgg BitmapCount
    BitmapOrAgg BitwiseAndAgg BitwiseCount BitwiseOrAgg BitwiseXorAgg Booland Boolnot Boolor BoolxorAgg Cbrt Ceil Cos
    Cosh CosineDistance Cot Coth Csc Csch Degrees DotProduct EuclideanDistance Exp Factorial Floor Getbit IsInf IsNan
    JarowinklerSimilarity Ln Log ManhattanDistance Nanvl Negative Pi Radians Rint Round SafeAdd SafeDivide SafeMultiply
    SafeNegate SafeSubtract Sec Sech Sign Sin Sinh Sqrt Tan Tanh Trunc

    Ascii Base64DecodeBinary Base64DecodeString Base64Encode BitLength ByteLength Chr CityHash64 CodePointsToBytes
    CodePointsToString Compress Concat ConcatWs Contains ConvertToCharset Decode DecompressBinary DecompressString
    Decrypt DecryptRaw Elt Encode Encrypt EncryptRaw EndsWith FarmFingerprint Format FromBase FromBase32 FromBase64 Hex
    HexDecodeString Initcap IsAscii Left Length Levenshtein Lower LowerHex MD5 MD5Digest MD5NumberLower64
    MD5NumberUpper64 MatchAgainst Normalize NumberToStr Overlay Pad ParseBignumeric ParseNumeric ParseUrl RegexpCount
    RegexpExtract RegexpExtractAll RegexpFullMatch RegexpILike RegexpInstr RegexpReplace RegexpSplit RegexpSubstr
    Repeat Replace Reverse Right RtrimmedLength SHA SHA1Digest SHA2 SHA2Digest SafeConvertBytesToString Search SearchIp
    Soundex SoundexP123 Space Split SplitPart StandardHash StartsWith StrPosition StrToMap String Strtok Stuff Substring
    SubstringIndex ToBase32 ToBase64 ToBinary ToChar ToCodePoints ToDecfloat ToDouble ToNumber Translate Trim
    TryBase64DecodeBinary TryBase64DecodeString TryHexDecodeBinary TryHexDecodeString TryToDecfloat Unhex Unicode Upper
    WeightString

    AddMonths ConvertTimezone CurrentDate CurrentDatetime CurrentTime CurrentTimestamp CurrentTimestampLTZ
    CurrentTimezone Date DateAdd DateBin DateDiff DateFromParts DateFromUnixDate DateStrToDate DateSub DateToDateStr
    DateToDi DateTrunc Datetime DatetimeAdd DatetimeDiff DatetimeSub DatetimeTrunc Day DayOfMonth DayOfWeek
    DayOfWeekIso DayOfYear Dayname DiToDate Extract FromISO8601Date FromISO8601Timestamp FromISO8601TimestampNanos
    GapFill GenerateDateArray GenerateTimestampArray GetExtract Hour JustifyDays JustifyHours JustifyInterval LastDay
    Localtime Localtimestamp MakeInterval Minute Month Monthname MonthsBetween NextDay ParseDatetime ParseTime
    PreviousDay Quarter Second StrToDate StrToTime StrToUnix Systimestamp Time TimeAdd TimeDiff TimeFromParts TimeSlice
    TimeStrToDate TimeStrToTime TimeStrToUnix TimeSub TimeToStr TimeToTimeStr TimeToUnix TimeTrunc Timestamp
    TimestampAdd TimestampDiff TimestampFromParts TimestampLtzFromParts TimestampSub TimestampTrunc TimestampTzFromParts
    ToDays TsOrDiToDi TsOrDsAdd TsOrDsDiff TsOrDsToDate TsOrDsToDateStr TsOrDsToDatetime TsOrDsToTime TsOrDsToTimestamp
    UnixDate UnixMicros UnixMillis UnixSeconds UnixToStr UnixToTime UnixToTimeStr UtcDate UtcTime UtcTimestamp Week
    WeekOfYear Year YearOfWeek YearOfWeekIso
    """.split()
)


def all_function_classes() -> list[type[exp.Func]]:
    """Every `exp.Func` subclass the installed sqlglot defines (what the two lists must cover)."""
    return sorted(
        {c for c in vars(exp).values() if inspect.isclass(c) and issubclass(c, exp.Func)}, key=lambda c: c.__name__
    )


_NAMED = {c.__name__ for c in NAMED_CALLS}
ALLOWED_CLASSES: frozenset[type[exp.Func]] = frozenset(
    c for c in all_function_classes() if c.__name__ in ALLOWED_TYPED and c.__name__ not in REFUSED_TYPED
)
REFUSED_CLASSES: dict[type[exp.Func], str] = {
    c: REFUSED_TYPED[c.__name__] for c in all_function_classes() if c.__name__ in REFUSED_TYPED
}
UNREVIEWED: frozenset[str] = frozenset(
    c.__name__ for c in all_function_classes() if c.__name__ not in ALLOWED_TYPED | set(REFUSED_TYPED) | _NAMED
)
