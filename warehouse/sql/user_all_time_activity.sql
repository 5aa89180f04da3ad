-- user_all_time_activity: the half of user_all_time (SPEC §5) that reads user_activity alone,
-- so the rollup can compute it while user_daily is still being written.
-- Grain: user; one row per user in user_activity. Not stored: user_all_time.sql joins it to
--   the user's days as its input `user_all_time_activity`.
-- videos_watched / videos_completed are distinct over all time.
-- favorite_channels  up to 3 catalog channels with the most watch time (ties: by name)
-- favorite_hours     up to 3 local hours of day (0..23) with the most watch time (ties: earlier)
-- Inputs: user_activity, catalog.
WITH per_video AS (
    -- distinct videos in two steps: one hash aggregate per level, not one per count(DISTINCT)
    SELECT
        user_id,
        video_id,
        sum(watch_time_s::DECIMAL(18, 3)) AS watch_time_s,
        sum(sessions) AS sessions,
        bool_or(completed_views > 0) AS completed
    FROM user_activity
    GROUP BY user_id, video_id
),
per_channel AS (
    -- the user's videos grouped by their catalog channel (NULL: none), so that one aggregate
    -- per user gives the totals and the favorite channels
    SELECT
        p.user_id,
        c.channel,
        sum(p.watch_time_s) AS w,
        sum(p.sessions) AS sessions,
        count(*) AS videos,
        count(*) FILTER (WHERE p.completed) AS completed
    FROM per_video p
    LEFT JOIN catalog c USING (video_id)
    GROUP BY p.user_id, c.channel
),
watching AS (
    -- favorite channels: top 3 by watch time, ties by name: the 3 smallest keys (structs
    -- compare field by field), in key order; a top-3 per user instead of sorting all of them
    SELECT
        user_id,
        sum(w) / 60 AS watch_time_min,
        sum(sessions) AS sessions,
        sum(videos)::BIGINT AS videos_watched,
        sum(completed)::BIGINT AS videos_completed,
        min_by(channel, {'neg_w': -w, 'channel': channel}, 3) FILTER (WHERE channel IS NOT NULL)
            AS favorite_channels
    FROM per_channel
    GROUP BY user_id
),
hours AS (
    SELECT
        user_id,
        min_by(hour, {'neg_w': -w, 'hour': hour}, 3) AS favorite_hours
    FROM (
        SELECT user_id, hour, sum(watch_time_s::DECIMAL(18, 3)) AS w
        FROM user_activity
        GROUP BY user_id, hour
    )
    GROUP BY user_id
)
SELECT
    w.user_id,
    w.watch_time_min,
    w.sessions,
    w.videos_watched,
    w.videos_completed,
    coalesce(w.favorite_channels, []) AS favorite_channels,
    h.favorite_hours
FROM watching w
LEFT JOIN hours h USING (user_id)
