-- user_all_time: per user, over all time (SPEC §5).
-- Grain: user; unpartitioned; one row per user in the inputs. The rollup binds user_activity
--   and user_daily to the users it recomputes (all of them in a full rebuild, else the users of
--   the dirty local days, over all their days) and merges the rows into the stored table.
-- videos_watched / videos_completed are distinct over all time;
-- completion_rate = videos_completed / videos_watched.
-- longest_streak_days, streak_last_day, streak_last_days: runs of consecutive local days with
--   the daily goal met (from `streaks`, computed by warehouse.streaks over user_daily). The
--   current streak depends on today's date, so readers derive it: streak_last_days if
--   streak_last_day is today or yesterday in the user's tz, else 0.
-- favorite_channels  up to 3 catalog channels with the most watch time (ties: by name)
-- favorite_hours     up to 3 local hours of day (0..23) with the most watch time (ties: earlier)
-- Inputs: user_activity, user_daily, catalog, streaks.
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
days AS (
    SELECT
        user_id,
        arg_max(tz, day) AS tz,
        min(day) AS first_day,
        max(day) AS last_day,
        count(*) AS days_active,
        count(*) FILTER (WHERE goal_met) AS goal_met_days
    FROM user_daily
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
    d.tz,
    d.first_day,
    d.last_day,
    d.days_active,
    w.watch_time_min,
    w.sessions,
    w.watch_time_min / w.sessions AS avg_session_min,
    w.videos_watched,
    w.videos_completed,
    w.videos_completed / w.videos_watched AS completion_rate,
    d.goal_met_days,
    coalesce(s.longest_streak_days, 0) AS longest_streak_days,
    s.streak_last_day,
    coalesce(s.streak_last_days, 0) AS streak_last_days,
    coalesce(w.favorite_channels, []) AS favorite_channels,
    h.favorite_hours
FROM watching w
JOIN days d USING (user_id)
LEFT JOIN streaks s USING (user_id)
LEFT JOIN hours h USING (user_id)
