-- video_retention_daily: the retention curve's counts for one UTC day, additive over days.
-- Grain: video x UTC day, each row holding its 100 buckets as arrays (element b is bucket b,
-- 1-based in SQL: covered_views[b + 1]); partition day. Every video with a view of known
-- duration has a row.
-- A bucket b (0..99) is sampled at its midpoint, (b + 0.5) % of the duration (as YouTube's
-- elapsedVideoTimeRatio samples points). A played interval [start_s, end_s) plays the bucket
-- if it contains that point, so it plays the bucket range [b0, b1) below.
-- views          views of the video with a known duration (the denominator)
-- covered_views  views whose played intervals contain the point
-- plays          played intervals containing the point, counted with multiplicity, so a
--                stretch replayed inside one view counts twice (rewatches push plays/views
--                above 1)
-- Counted with difference arrays (+1 where a range starts, -1 where it ends, then a running
-- sum over buckets), so the work grows with intervals, not with buckets covered. For
-- covered_views, only the starts and ends of the islands of each view's union count, so
-- overlapping ranges count once. Per-view work is done with list functions, not windows.
-- The running sum runs over the deltas of all videos in one ordered pass (one window
-- partition is much faster than one per video): it restarts at 0 for each video because each
-- video's deltas, over buckets 0..100, sum to 0. Each running value then holds from its bucket
-- up to the video's next delta: repeated that many times, the steps make the 100-long arrays.
-- (list_sort of structs sorts by their first field, the bucket.)
-- Inputs: views. Variables: day (DATE).
WITH v AS (
    SELECT video_id, session_key, duration_s, played_intervals
    FROM views
    WHERE day = getvariable('day') AND duration_s > 0
),
denominator AS (
    SELECT video_id, count(*) AS views FROM v GROUP BY video_id
),
spans AS (
    -- each view's played intervals as bucket ranges [b0, b1), sorted by b0
    SELECT
        video_id,
        list_sort(list_filter(
            list_transform(played_intervals, lambda i: {
                'b0': greatest(0, ceil(100 * i.start_s / duration_s - 0.5))::BIGINT,
                'b1': least(100, ceil(100 * i.end_s / duration_s - 0.5))::BIGINT
            }),
            lambda r: r.b1 > r.b0
        )) AS r
    FROM v
),
islands AS (
    -- where the union of a view's ranges starts a new island: range k starts one if it
    -- begins after every earlier range has ended (reach = the furthest earlier end)
    SELECT
        video_id,
        r,
        list_filter(
            range(1, len(r) + 1),
            lambda k: k = 1 OR r[k].b0 > list_max(list_transform(r[1:k - 1], lambda x: x.b1))
        ) AS starts
    FROM spans
    WHERE len(r) > 0
),
deltas AS (
    SELECT video_id, d.bucket AS bucket, sum(d.covered) AS covered, sum(d.plays) AS plays
    FROM (
        SELECT video_id, unnest(flatten([
            -- plays: +1 where each range starts, -1 where it ends
            flatten(list_transform(r, lambda x: [
                {'bucket': x.b0, 'covered': 0, 'plays': 1},
                {'bucket': x.b1, 'covered': 0, 'plays': -1}
            ])),
            -- covered: +1 where each island starts ...
            list_transform(starts, lambda k: {'bucket': r[k].b0, 'covered': 1, 'plays': 0}),
            -- ... -1 where the island before it ended, and where the last one ends
            list_transform(list_filter(starts, lambda k: k > 1), lambda k: {
                'bucket': list_max(list_transform(r[1:k - 1], lambda x: x.b1)),
                'covered': -1,
                'plays': 0
            }),
            [{'bucket': list_max(list_transform(r, lambda x: x.b1)), 'covered': -1, 'plays': 0}]
        ])) AS d
        FROM islands
        UNION ALL
        SELECT video_id, {'bucket': 0, 'covered': 0, 'plays': 0} FROM denominator
    )
    GROUP BY video_id, d.bucket
),
steps AS (
    SELECT
        video_id,
        bucket,
        CASE WHEN lead(video_id) OVER running = video_id THEN lead(bucket) OVER running
            ELSE 100 END AS next_bucket,
        sum(covered) OVER (running ROWS UNBOUNDED PRECEDING) AS covered_views,
        sum(plays) OVER (running ROWS UNBOUNDED PRECEDING) AS plays
    FROM deltas
    WINDOW running AS (ORDER BY video_id, bucket)
),
curves AS (
    SELECT
        video_id,
        list_sort(list({
            'bucket': bucket,
            'width': next_bucket - bucket,
            'covered': covered_views,
            'plays': plays
        })) AS steps
    FROM steps
    WHERE bucket < 100
    GROUP BY video_id
)
SELECT
    d.video_id,
    d.views,
    flatten(list_transform(c.steps, lambda s: repeat([s.covered], s.width))) AS covered_views,
    flatten(list_transform(c.steps, lambda s: repeat([s.plays], s.width))) AS plays,
    getvariable('day') AS day
FROM curves c
JOIN denominator d USING (video_id)
