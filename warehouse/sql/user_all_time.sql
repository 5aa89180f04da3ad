-- user_all_time: per user, over all time (SPEC §5).
-- Grain: user; unpartitioned; one row per user in the inputs. The rollup binds user_activity
--   and user_daily to the users it recomputes (all of them in a full rebuild, else the users of
--   the dirty local days, over all their days) and merges the rows into the stored table.
-- The watching figures come from user_all_time_activity.sql (user_activity alone), computed
--   first as the input `user_all_time_activity`; this file adds the user's days.
-- videos_watched / videos_completed are distinct over all time;
-- completion_rate = videos_completed / videos_watched.
-- longest_streak_days, streak_last_day, streak_last_days: runs of consecutive local days with
--   the daily goal met (from `streaks`, computed by warehouse.streaks over user_daily). The
--   current streak depends on today's date, so readers derive it: streak_last_days if
--   streak_last_day is today or yesterday in the user's tz, else 0.
-- favorite_channels, favorite_hours: see user_all_time_activity.sql.
-- Inputs: user_all_time_activity, user_daily, streaks.
WITH days AS (
    SELECT
        user_id,
        arg_max(tz, day) AS tz,
        min(day) AS first_day,
        max(day) AS last_day,
        count(*) AS days_active,
        count(*) FILTER (WHERE goal_met) AS goal_met_days
    FROM user_daily
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
    w.favorite_channels,
    w.favorite_hours
FROM user_all_time_activity w
JOIN days d USING (user_id)
LEFT JOIN streaks s USING (user_id)
