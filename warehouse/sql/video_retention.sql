-- video_retention: the retention curve of a video over all time (SPEC §5).
-- Grain: video, its 100 buckets as arrays (the analyst view `video_retention` unnests them to
-- one row per video and 1 % bucket); unpartitioned; rows for the videos in `scope`.
-- covered_views   views whose played intervals cover the bucket (share_of_views = / views)
-- plays           plays of the bucket (plays_per_view = / views, above 1 where viewers replay);
--                 the analyst view and the API divide, so the stored rows stay integers
-- Maintained by difference, so a rollup's cost does not grow with history: the previous
-- totals, minus the previous counts of the days being recomputed, plus their new counts (all
-- integers, so exact). A full rebuild passes every day as `added` and nothing else.
-- Inputs: previous (video_retention before this run), removed (video_retention_daily rows
-- being replaced), added (their replacements), scope(video_id).
WITH counts AS (
    SELECT video_id, views, covered_views, plays
    FROM previous
    WHERE video_id IN (SELECT video_id FROM scope)
    UNION ALL
    SELECT
        video_id,
        -views,
        list_transform(covered_views, lambda x: -x),
        list_transform(plays, lambda x: -x)
    FROM removed
    UNION ALL
    SELECT video_id, views, covered_views, plays FROM added
)
SELECT
    video_id,
    sum(views) AS views,
    list_reduce(
        list(covered_views), lambda a, b: list_transform(list_zip(a, b), lambda z: z[1] + z[2])
    ) AS covered_views,
    list_reduce(
        list(plays), lambda a, b: list_transform(list_zip(a, b), lambda z: z[1] + z[2])
    ) AS plays
FROM counts
GROUP BY video_id
HAVING sum(views) > 0
