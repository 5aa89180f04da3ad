-- creator_daily_late: creator_daily (creator_daily.sql) for the creators of videos whose views
-- of the day late data changed, without reading their viewers again.
-- Grain: creator x UTC day; partition day; rows for the creators of the videos in `scope`.
-- The totals are creator_daily's, over video_daily. unique_viewers is the stored count plus
-- the late users who now view one of the creator's videos that day and did not before, minus
-- those who did and no longer do: only the late users' views changed, so only they can enter
-- or leave a creator's set of viewers (exact; tests compare it with creator_daily.sql).
-- Inputs: video_daily, catalog, previous (creator_daily of the day), viewers_before and
-- viewers_after (user_id, video_id of the late users' views of the day, before and after).
-- Variables: day (DATE).
WITH owned AS (
    SELECT video_id, creator_id FROM catalog WHERE creator_id IS NOT NULL
),
totals AS (
    SELECT
        o.creator_id,
        count(*) AS videos_viewed,
        sum(d.views) AS views,
        sum(d.watch_time_s::DECIMAL(18, 3)) AS watch_time_s,
        sum(d.completions) AS completions,
        sum(d.exits_before_start) AS exits_before_start
    FROM video_daily d
    JOIN owned o USING (video_id)
    WHERE d.day = getvariable('day')
    GROUP BY o.creator_id
),
moved AS (
    SELECT creator_id, sum(d) AS d
    FROM (
        SELECT DISTINCT o.creator_id, v.user_id, 1 AS d
        FROM viewers_after v JOIN owned o USING (video_id)
        UNION ALL
        SELECT DISTINCT o.creator_id, v.user_id, -1 AS d
        FROM viewers_before v JOIN owned o USING (video_id)
    )
    GROUP BY creator_id
)
SELECT
    t.creator_id,
    t.videos_viewed,
    t.views,
    coalesce(p.unique_viewers, 0) + coalesce(m.d, 0) AS unique_viewers,
    t.watch_time_s,
    t.watch_time_s / t.views AS avg_watch_time_s,
    t.completions,
    t.completions / t.views AS completion_rate,
    t.exits_before_start,
    getvariable('day') AS day
FROM totals t
LEFT JOIN (SELECT creator_id, unique_viewers FROM previous) p USING (creator_id)
LEFT JOIN moved m USING (creator_id)
